import type { Command } from "commander";
import { z } from "zod";
import { formatReference, parseImageReference } from "../../shared/registry/index.js";
import { type RemovalPlan, removeManifest } from "../../shared/registry/removeManifest.js";
import {
  addRegistryOptions,
  type CliDependencies,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { writeJson } from "../output.js";
import { confirm } from "../prompt.js";

const RmFlagsSchema = z.intersection(
  RegistryFlagsSchema,
  z.object({ untag: z.boolean().default(false), yes: z.boolean().default(false) }),
);

/** `acr-steward rm REF [--untag] [--yes]`: delete a manifest (with all its tags) or remove one tag. */
export function registerRmCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addRegistryOptions(
    program
      .command("rm")
      .description(
        "Delete a manifest and all its tags, or only one tag with --untag; asks first unless --yes",
      )
      .argument("<reference>", "repository:tag or repository@sha256:...")
      .option("--untag", "remove only this tag; the manifest and its other tags stay")
      .option("--yes", "do not ask for confirmation (required without a terminal)"),
  ).action(async (text: string, options: unknown) => {
    const flags = parseFlags(RmFlagsSchema, options);
    const reference = parseImageReference(text);
    const registry = await deps.openRegistry(flags, reference.registry);
    const result = await removeManifest(registry, reference, {
      untag: flags.untag,
      confirm: (plan) => confirm(deps.io, question(plan), { yes: flags.yes, action: describe(plan) }),
    });
    const summary = {
      outcome: result.outcome,
      action: result.mode,
      registry: registry.loginServer,
      repository: reference.repository,
      digest: result.details.digest,
      tagsRemoved: result.tagsRemoved,
    };
    if (flags.json) writeJson(deps.io, summary);
    else if (result.outcome === "declined") deps.io.stdout.write("nothing removed\n");
    else if (result.mode === "untag") deps.io.stdout.write(`untagged ${formatReference(reference)}\n`);
    else {
      const tags = result.tagsRemoved.length === 0 ? "" : ` (tags: ${result.tagsRemoved.join(", ")})`;
      deps.io.stdout.write(`deleted ${reference.repository}@${result.details.digest}${tags}\n`);
    }
  });
}

function describe(plan: RemovalPlan): string {
  return plan.mode === "untag"
    ? `remove tag ${formatReference(plan.reference)}`
    : `delete ${plan.reference.repository}@${plan.details.digest}`;
}

function question(plan: RemovalPlan): string {
  if (plan.mode === "untag") {
    return `Remove tag ${formatReference(plan.reference)}? The manifest ${plan.details.digest} stays.`;
  }
  const tags = plan.tagsRemoved.length === 0 ? "no tags" : `tags ${plan.tagsRemoved.join(", ")}`;
  const children =
    plan.details.platforms.length > 0
      ? ` It is an index; its ${plan.details.platforms.length} platform manifests are not deleted.`
      : "";
  return `Delete ${plan.reference.repository}@${plan.details.digest} (${tags})? This cannot be undone.${children}`;
}
