import type { Command } from "commander";
import { formatReference, parseImageReference } from "../../shared/registry/index.js";
import { ExitCode } from "../exitCodes.js";
import {
  addRegistryOptions,
  type CliDependencies,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { writeJson } from "../output.js";

/** `acr-steward exists REF`: exit 0 when the manifest exists, 1 when it does not, 2 when we cannot tell. */
export function registerExistsCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addRegistryOptions(
    program
      .command("exists")
      .description("Check that a manifest exists (exit 0 yes, 1 no, 2 error); one HEAD request")
      .argument("<reference>", "repository:tag or repository@sha256:..."),
  ).action(async (text: string, options: unknown) => {
    const flags = parseFlags(RegistryFlagsSchema, options);
    const reference = parseImageReference(text);
    const registry = await deps.openRegistry(flags, reference.registry);
    const exists = await registry.exists(reference);
    const shown = formatReference({ registry: registry.loginServer, ...reference });
    if (flags.json) writeJson(deps.io, { reference: shown, exists });
    else deps.io.stdout.write(`${exists ? "exists" : "not found"}: ${shown}\n`);
    deps.io.setExitCode(exists ? ExitCode.ok : ExitCode.negative);
  });
}
