import type { Command } from "commander";
import { formatReference, type Locks, parseImageReference } from "../../shared/registry/index.js";
import {
  addRegistryOptions,
  type CliDependencies,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { renderFields, writeJson } from "../output.js";

/**
 * `acr-steward lock REF` / `unlock REF`: ACR's manifest locks. Locking turns off delete and write (the
 * manifest cannot be deleted, overwritten or re-tagged away; retention skips it); unlocking turns them on.
 */
export function registerLockCommands(program: Command, deps: CliDependencies = defaultDependencies()): void {
  const register = (name: "lock" | "unlock", change: Partial<Locks>, description: string) =>
    addRegistryOptions(
      program
        .command(name)
        .description(description)
        .argument("<reference>", "repository:tag or repository@sha256:..."),
    ).action(async (text: string, options: unknown) => {
      const flags = parseFlags(RegistryFlagsSchema, options);
      const reference = parseImageReference(text);
      const registry = await deps.openRegistry(flags, reference.registry);
      const locks = await registry.setLocks(reference, change);
      if (flags.json) writeJson(deps.io, { reference: formatReference(reference), locks });
      else {
        deps.io.stdout.write(
          renderFields([
            ["reference", formatReference(reference)],
            ["deleteEnabled", String(locks.deleteEnabled)],
            ["writeEnabled", String(locks.writeEnabled)],
          ]),
        );
      }
    });
  register(
    "lock",
    { deleteEnabled: false, writeEnabled: false },
    "Lock a manifest (ACR): no delete, no overwrite",
  );
  register(
    "unlock",
    { deleteEnabled: true, writeEnabled: true },
    "Unlock a manifest (ACR): delete and write allowed again",
  );
}
