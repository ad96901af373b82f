import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { z } from "zod";
import { ConfigurationError, ValidationError } from "../../shared/errors/index.js";
import { parseAllowList, type Registry } from "../../shared/registry/index.js";
import { readOnlyRegistry } from "../../shared/retention/adapters/registryRetention.js";
import { planRegistryRetention, type RetentionPreview } from "../../shared/retention/enforce.js";
import {
  DECISION_FILTERS,
  type DecisionFilter,
  DecisionFilterListSchema,
  type RepositoryPlan,
  type RetentionCaps,
  type RetentionDecision,
  selectDecisions,
} from "../../shared/retention/plan.js";
import { parseRetentionPolicy, type RetentionPolicy } from "../../shared/retention/policy.js";
import { startDemoRegistry } from "../embedded.js";
import type { EmbeddedStorageOptions } from "../embeddedStorage.js";
import { ExitCode } from "../exitCodes.js";
import {
  addRegistryOptions,
  type CliDependencies,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { type CliIo, createProgress, formatBytes, renderTable, shortDigest, writeJson } from "../output.js";

/** What the retention commands need besides the registry: a clock, and where the embedded store lives. */
export interface RetentionCommandDependencies extends CliDependencies {
  readonly now: () => Date;
  readonly embeddedStorage?: EmbeddedStorageOptions;
  /** The built-in demo registry `preview` uses when no registry is named or configured. */
  readonly openDemoRegistry?: () => Promise<{ readonly registry: Registry; close(): Promise<void> }>;
}

export function defaultRetentionDependencies(): RetentionCommandDependencies {
  return { ...defaultDependencies(), now: () => new Date(), openDemoRegistry: startDemoRegistry };
}

const CapFlagSchema = z
  .string()
  .regex(/^\d+$/, "must be a whole number")
  .transform(Number)
  .pipe(z.number().int().nonnegative().max(1_000_000))
  .optional();

export const RetentionFlagsSchema = z.intersection(
  RegistryFlagsSchema,
  z.object({
    policy: z.string().min(1, "name the policy file"),
    repo: z.array(z.string().min(1)).optional(),
    maxDeletes: CapFlagSchema,
    maxDeletesPerRepo: CapFlagSchema,
  }),
);

export type RetentionFlags = z.infer<typeof RetentionFlagsSchema>;

export const PreviewFlagsSchema = z.intersection(
  RetentionFlagsSchema,
  z.object({ only: DecisionFilterListSchema.optional() }),
);

/** The options preview and apply share. */
export function addRetentionOptions(command: Command): Command {
  return addRegistryOptions(
    command
      .requiredOption("--policy <file>", "retention policy file (YAML or JSON; see docs/policy.md)")
      .addOption(
        new Option(
          "--repo <repository>",
          "only this repository (repeatable); default: every repository a rule applies to",
        ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
      )
      .addOption(
        new Option(
          "--max-deletes <n>",
          "most destructive actions in this run (default ACR_STEWARD_DELETE_CAP_GLOBAL, 1000)",
        ),
      )
      .addOption(
        new Option(
          "--max-deletes-per-repo <n>",
          "most destructive actions per repository (default ACR_STEWARD_DELETE_CAP_PER_REPOSITORY, 100)",
        ),
      ),
  );
}

export function readPolicyFile(path: string): RetentionPolicy {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ValidationError(`cannot read the policy file ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseRetentionPolicy(text, path);
}

/** Caps from the flags, else from the same settings the functions use, else their defaults. */
export function capsFrom(flags: RetentionFlags, env: NodeJS.ProcessEnv): RetentionCaps {
  const setting = (name: string, fallback: number): number => {
    const text = env[name]?.trim();
    if (text === undefined || text === "") return fallback;
    if (!/^\d+$/.test(text) || Number(text) < 1) {
      throw new ConfigurationError(`${name} is invalid ('${text}'): must be a whole number of at least 1`);
    }
    return Number(text);
  };
  return {
    perRepository: flags.maxDeletesPerRepo ?? setting("ACR_STEWARD_DELETE_CAP_PER_REPOSITORY", 100),
    global: flags.maxDeletes ?? setting("ACR_STEWARD_DELETE_CAP_GLOBAL", 1000),
  };
}

/** `acr-steward preview --policy FILE [--repo R] [--json]`: the retention plan, changing nothing. */
export function registerPreviewCommand(
  program: Command,
  deps: RetentionCommandDependencies = defaultRetentionDependencies(),
): void {
  addRetentionOptions(
    program
      .command("preview")
      .description(
        "Show what a retention policy would do, with the rule and reason of every decision; changes nothing",
      )
      .addOption(
        new Option(
          "--only <kinds>",
          `show only these decisions, comma-separated: ${DECISION_FILTERS.join(", ")} (actions = delete and untag; guarded = kept by a guard); totals still count all`,
        ),
      ),
  ).action(async (options: unknown) => {
    const flags = parseFlags(PreviewFlagsSchema, options);
    const policy = readPolicyFile(flags.policy);
    const caps = capsFrom(flags, deps.env);
    const useDemo =
      flags.registry === undefined &&
      parseAllowList(deps.env.ACR_STEWARD_REGISTRIES).length === 0 &&
      deps.openDemoRegistry !== undefined;
    const demo = useDemo ? await deps.openDemoRegistry?.() : undefined;
    try {
      const registry = demo?.registry ?? (await deps.openRegistry(flags));
      if (demo && !flags.json) {
        deps.io.stderr.write(
          `no --registry given: previewing the built-in demo registry (ACR emulator at ${registry.loginServer}, seed "demo")\n`,
        );
      }
      await previewOn(registry, flags, policy, caps, deps);
    } finally {
      await demo?.close();
    }
  });
}

async function previewOn(
  registry: Registry,
  flags: RetentionFlags & { readonly only?: readonly DecisionFilter[] | undefined },
  policy: RetentionPolicy,
  caps: RetentionCaps,
  deps: RetentionCommandDependencies,
): Promise<void> {
  const progress = createProgress(deps.io, "planning", { quiet: flags.json });
  // The preview only ever holds the read-only view: it has no method that could delete.
  const preview = await planRegistryRetention(
    flags.repo === undefined ? {} : { repositories: flags.repo },
    {
      registry: readOnlyRegistry(registry),
      policy,
      caps,
      onRepository: (repository, index, count) => progress.update(`${repository} (${index + 1}/${count})`),
      load: {
        onProgress: ({ listed, read }) => progress.update(`listed ${listed}, read ${read} manifests`),
      },
    },
    deps.now(),
  );
  progress.done();
  const plan = selectDecisions(preview.plan, flags.only);
  if (flags.json) {
    writeJson(deps.io, {
      registry: registry.loginServer,
      missingRepositories: preview.missingRepositories,
      outOfScopeRepositories: preview.outOfScopeRepositories,
      unavailableRepositories: preview.unavailableRepositories,
      // Present when --only left decisions out: the totals still count every manifest.
      ...(flags.only === undefined ? {} : { only: flags.only }),
      plan,
    });
  } else {
    writePlan(deps.io, { ...preview, plan }, flags.only);
    deps.io.stdout.write(
      `\nPreview only: nothing was changed. 'acr-steward apply' with the same flags${flags.only === undefined ? "" : " (without --only)"} carries it out.\n`,
    );
  }
  // Some repositories could not be planned: the answer is incomplete, and the exit code says so.
  if (preview.unavailableRepositories.length > 0) deps.io.setExitCode(ExitCode.error);
}

const ACTION_ORDER = { delete: 0, untag: 1, keep: 2 } as const;

function describeAction(decision: RetentionDecision): string {
  return decision.guard === null ? decision.action : `keep (${decision.guard})`;
}

/** Tags shown per decision: what goes for delete/untag, what the manifest carries for keep. */
function tagsColumn(
  decision: RetentionDecision,
  tagsByDigest: ReadonlyMap<string, readonly string[]>,
): string {
  const tags = decision.action === "keep" ? (tagsByDigest.get(decision.digest) ?? []) : decision.tags;
  return tags.length === 0 ? "-" : tags.join(",");
}

export function summarizeRepository(repo: RepositoryPlan): string {
  const t = repo.totals;
  return `${t.manifests} manifest${t.manifests === 1 ? "" : "s"}: delete ${t.delete}, untag ${t.untag}, keep ${t.keep} (${t.guarded} guarded); reclaimable ${formatBytes(t.bytesReclaimable)}${repo.listingComplete ? "" : " — PARTIAL LISTING, nothing will be done"}`;
}

/**
 * The plan for people: one aligned table per repository, actions first, then totals. With `only`,
 * the plan holds just the selected decisions and each repository says how many it shows.
 */
export function writePlan(io: CliIo, preview: RetentionPreview, only?: readonly DecisionFilter[]): void {
  const tagsByDigest = new Map<string, readonly string[]>();
  for (const listing of preview.listings)
    for (const manifest of listing.manifests)
      tagsByDigest.set(
        `${listing.repository}@${manifest.digest}`,
        manifest.tags.map((tag) => tag.name),
      );
  for (const repo of preview.plan.repositories) {
    const tags = new Map(
      repo.decisions.map(
        (d) => [d.digest, tagsByDigest.get(`${repo.repository}@${d.digest}`) ?? []] as const,
      ),
    );
    const decisions = [...repo.decisions].sort(
      (a, b) =>
        ACTION_ORDER[a.action] - ACTION_ORDER[b.action] ||
        (a.pushedAt ?? "").localeCompare(b.pushedAt ?? "") ||
        a.digest.localeCompare(b.digest),
    );
    io.stdout.write(`${repo.registry}/${repo.repository}  ${summarizeRepository(repo)}\n`);
    if (only !== undefined) {
      io.stdout.write(
        `showing ${decisions.length} of ${repo.totals.manifests} decision${repo.totals.manifests === 1 ? "" : "s"} (--only ${only.join(",")})\n`,
      );
    }
    if (decisions.length > 0) {
      io.stdout.write(
        renderTable<RetentionDecision>(
          [
            { header: "DIGEST", value: (d) => shortDigest(d.digest) },
            { header: "TAGS", value: (d) => tagsColumn(d, tags) },
            { header: "ACTION", value: describeAction },
            { header: "SIZE", value: (d) => formatBytes(d.sizeInBytes), align: "right" },
            { header: "RULE", value: (d) => d.ruleId ?? "-" },
            { header: "REASON", value: (d) => d.reason },
          ],
          decisions,
        ),
      );
    }
    io.stdout.write("\n");
  }
  for (const missing of preview.missingRepositories) io.stdout.write(`${missing}: no such repository\n`);
  for (const { repository, error } of preview.unavailableRepositories) {
    io.stdout.write(`${repository}: NOT PLANNED, the registry would not list it: ${error}\n`);
  }
  const skipped = preview.outOfScopeRepositories.length;
  if (skipped > 0) {
    io.stdout.write(
      skipped <= 5
        ? `No rule applies to ${preview.outOfScopeRepositories.join(", ")}: not planned.\n`
        : `No rule applies to ${skipped} other repositories: not planned.\n`,
    );
  }
  const t = preview.plan.totals;
  io.stdout.write(
    `Total: ${t.manifests} manifests in ${preview.plan.repositories.length} repositor${preview.plan.repositories.length === 1 ? "y" : "ies"}: delete ${t.delete}, untag ${t.untag} (${t.tagsRemoved} tags removed), keep ${t.keep} (${t.guarded} guarded); reclaimable up to ${formatBytes(t.bytesReclaimable)} (layers shared with kept images stay)\n`,
  );
}
