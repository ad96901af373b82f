import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Command, Option } from "commander";
import { z } from "zod";
import { parseDuration, type StorageConnection } from "../../shared/config/config.js";
import { TABLE_NAMES } from "../../shared/config/settings.js";
import { ValidationError } from "../../shared/errors/index.js";
import type { ManifestRecord } from "../../shared/inventory/ports.js";
import { createTableClient } from "../../shared/inventory/tableClients.js";
import type { Registry } from "../../shared/registry/registry.js";
import { RegistryRetentionActions } from "../../shared/retention/adapters/registryRetention.js";
import { TableRetentionAuditLog } from "../../shared/retention/adapters/tableAuditLog.js";
import { TableRepositoryLeases } from "../../shared/retention/adapters/tableLeases.js";
import type { RetentionDecision, RetentionPlan } from "../../shared/retention/plan.js";
import { parseRetentionPolicy, type RetentionPolicy } from "../../shared/retention/policy.js";
import { systemClock } from "../../shared/retention/ports.js";
import { openSweepStorage } from "../../shared/sweep/services.js";
import { type Survey, surveyRegistry } from "../../shared/sweep/survey.js";
import { startDemoRegistry, startEmbeddedStorage } from "../embedded.js";
import {
  addRegistryOptions,
  addStoreOption,
  type CliDependencies,
  cliActor,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { type Column, createProgress, formatBytes, renderTable, shortDigest, writeJson } from "../output.js";
import { confirm } from "../prompt.js";

/**
 * `acr-steward sweep`: reconcile a registry with the inventory and show the picture: inventory,
 * scan queue, retention plan. Without --registry it sweeps the built-in demo registry on embedded
 * storage (the first command to try after `npm ci`).
 */

const SweepFlagsSchema = z.intersection(
  RegistryFlagsSchema,
  z.object({
    policy: z.string().min(1, "--policy needs a file").optional(),
    enforce: z.boolean().default(false),
    yes: z.boolean().default(false),
    fresh: z.boolean().default(false),
    store: z.string().min(1).optional(),
    concurrency: z
      .string()
      .regex(/^\d+$/, "must be a whole number")
      .transform(Number)
      .pipe(z.number().int().min(1, "must be at least 1").max(64, "must be at most 64"))
      .default(4),
  }),
);

type SweepFlags = z.infer<typeof SweepFlagsSchema>;

const EXAMPLES = `
Examples:
  # the demo: a built-in registry and embedded storage, nothing to configure
  acr-steward sweep

  # a real registry (DefaultAzureCredential); inventory in ACR_STEWARD_STORAGE, or .acr-steward/ here
  acr-steward sweep --registry myregistry.azurecr.io --policy retention.yaml

  # enforce the policy (asks first; ACR_STEWARD_RETENTION_ENFORCE=true is required as well)
  acr-steward sweep --registry myregistry.azurecr.io --policy retention.yaml --enforce

A sweep that was interrupted resumes where it stopped when run again (--fresh starts over).
Details: docs/sweeps.md`;

/** Used when neither --policy nor examples/retention-policy.yaml is there: keeps every tag. */
const BUILT_IN_POLICY: RetentionPolicy = {
  version: 1,
  protectLatest: true,
  rules: [
    {
      id: "keep-tagged",
      description: "Every tagged image stays.",
      repositories: { include: ["**"] },
      keep: { tags: { glob: "*" } },
    },
    {
      id: "keep-recent",
      description: "Nothing pushed in the last 7 days is touched.",
      repositories: { include: ["**"] },
      keep: { newerThan: "7d" },
    },
    {
      id: "untagged-after-90d",
      description: "Untagged manifests (superseded builds) go after 90 days without activity.",
      repositories: { include: ["**"] },
      delete: { untaggedOlderThan: "90d" },
    },
  ],
};

export function registerSweepCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addStoreOption(
    addRegistryOptions(
      program
        .command("sweep")
        .description(
          "Reconcile a registry with the inventory and show inventory, scan queue and retention plan (dry run unless --enforce); without --registry, the built-in demo",
        )
        .option("--policy <file>", "retention policy (YAML or JSON); default examples/retention-policy.yaml")
        .option("--enforce", "carry out the retention plan (guarded, audited; asks first unless --yes)")
        .option("--yes", "do not ask before deleting (required without a terminal)")
        .option("--fresh", "start a new sweep instead of resuming an interrupted one")
        .addOption(new Option("--concurrency <n>", "repositories reconciled at once").default("4")),
    ),
  )
    .addHelpText("after", EXAMPLES)
    .action(async (options: unknown) => {
      const flags = parseFlags(SweepFlagsSchema, options);
      await runSweepCommand(flags, deps);
    });
}

interface Target {
  readonly registry: Registry;
  readonly storage: StorageConnection;
  /** How the registry and storage were chosen, for the header. */
  readonly description: string;
  readonly demo: boolean;
  readonly registryCalls?: () => number;
  close(): Promise<void>;
}

async function openTarget(flags: SweepFlags, deps: CliDependencies): Promise<Target> {
  if (flags.registry === undefined) {
    const storage = await startEmbeddedStorage({ inMemory: true });
    try {
      const demo = await startDemoRegistry();
      return {
        registry: demo.registry,
        storage: { kind: "connectionString", connectionString: storage.connectionString },
        description: `no --registry given: the built-in demo registry (ACR emulator at ${demo.emulator.loginServer}, seed "demo") on embedded storage in memory`,
        demo: true,
        registryCalls: () => demo.emulator.stats().total,
        close: async () => {
          await demo.close();
          await storage.stop();
        },
      };
    } catch (error) {
      await storage.stop();
      throw error;
    }
  }
  const registry = await deps.openRegistry(flags);
  if (flags.store !== undefined) {
    return {
      registry,
      storage: { kind: "connectionString", connectionString: flags.store },
      description: `${registry.loginServer}, inventory in the --store account`,
      demo: false,
      close: async () => {},
    };
  }
  const embedded = await startEmbeddedStorage();
  return {
    registry,
    storage: { kind: "connectionString", connectionString: embedded.connectionString },
    description: `${registry.loginServer}, inventory in the embedded store in ${embedded.location}`,
    demo: false,
    close: () => embedded.stop(),
  };
}

interface PolicyChoice {
  readonly policy: RetentionPolicy;
  readonly source: string;
}

function choosePolicy(file: string | undefined): PolicyChoice {
  if (file !== undefined) {
    if (!existsSync(file)) throw new ValidationError(`--policy: ${file} does not exist`);
    return { policy: parseRetentionPolicy(readFileSync(file, "utf8"), file), source: file };
  }
  for (const candidate of [resolve("examples/retention-policy.yaml"), packageExamplePolicy()]) {
    if (candidate !== undefined && existsSync(candidate)) {
      return {
        policy: parseRetentionPolicy(readFileSync(candidate, "utf8"), candidate),
        source: `${candidate} (the example policy; pass --policy to use yours)`,
      };
    }
  }
  return {
    policy: BUILT_IN_POLICY,
    source:
      "built-in safe default (keeps every tag and anything from the last 7 days; untagged manifests go after 90 days)",
  };
}

/** examples/retention-policy.yaml of this package, wherever it is installed. */
function packageExamplePolicy(): string | undefined {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const manifest = join(folder, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "acr-steward")
          return join(folder, "examples", "retention-policy.yaml");
      } catch {
        return undefined;
      }
    }
    folder = dirname(folder);
  }
  return undefined;
}

function positiveInteger(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === "") return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1)
    throw new ValidationError(`${name} must be a whole number of at least 1 (got '${value}')`);
  return Number(value);
}

function notePlatformImages(inventory: readonly ManifestRecord[]): void {
  platformImages = new Set(
    inventory.flatMap((m) => (m.description?.children ?? []).map((child) => `${m.repository}@${child}`)),
  );
}

async function runSweepCommand(flags: SweepFlags, deps: CliDependencies): Promise<void> {
  const { io, env } = deps;
  const policy = choosePolicy(flags.policy);
  const caps = {
    perRepository: positiveInteger(
      env.ACR_STEWARD_DELETE_CAP_PER_REPOSITORY,
      100,
      "ACR_STEWARD_DELETE_CAP_PER_REPOSITORY",
    ),
    global: positiveInteger(env.ACR_STEWARD_DELETE_CAP_GLOBAL, 1000, "ACR_STEWARD_DELETE_CAP_GLOBAL"),
  };
  const freshness = env.ACR_STEWARD_SCAN_FRESHNESS?.trim()
    ? parseDuration(env.ACR_STEWARD_SCAN_FRESHNESS)
    : 7 * 86_400_000;
  if (freshness === undefined || freshness <= 0)
    throw new ValidationError("ACR_STEWARD_SCAN_FRESHNESS must be a duration like 12h or 7d");
  const globalEnforce = env.ACR_STEWARD_RETENTION_ENFORCE?.trim().toLowerCase() === "true";

  const progress = createProgress(io, "sweep", { quiet: flags.json });
  if (!flags.json) io.stderr.write("acr-steward sweep: starting (registry and storage)...\n");
  const target = await openTarget(flags, deps);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  try {
    const storage = await openSweepStorage({
      storage: target.storage,
      registries: (server) => (server === target.registry.loginServer ? target.registry : undefined),
      scanFreshnessMs: freshness,
      retentionDebounceMs: 600_000,
    });
    const audit = new TableRetentionAuditLog(createTableClient(target.storage, TABLE_NAMES.audit));
    const leases = new TableRepositoryLeases(createTableClient(target.storage, TABLE_NAMES.coordination));
    const started = Date.now();
    let sweepCalls: number | undefined;
    const survey = await surveyRegistry(
      {
        registry: target.registry,
        inventory: storage.inventory,
        enricher: storage.enricher,
        tagRemovals: storage.tagRemovals,
        followUp: storage.followUp,
        progress: storage.progress,
        now: () => new Date(),
        retention: {
          policy: policy.policy,
          caps,
          globalEnforce,
          ports: {
            registry: new RegistryRetentionActions(target.registry),
            audit,
            leases,
            clock: systemClock,
          },
        },
      },
      {
        actor: `cli:${cliActor()}`,
        enforce: flags.enforce,
        concurrency: flags.concurrency,
        fresh: flags.fresh,
        signal: stop.signal,
        onProgress: (report) => progress.update(describeProgress(report)),
        onSweepFinished: () => {
          sweepCalls = target.registryCalls?.();
        },
        onRetentionRepository: (repository, index, count) =>
          progress.update(`planning retention ${index + 1}/${count}: ${repository}`),
        confirm: async (plan) => {
          progress.done();
          if (!flags.json) io.stdout.write(renderRetention(plan, policy.source, true));
          return confirm(io, `Carry out ${describeActions(plan)} on ${target.registry.loginServer}?`, {
            yes: flags.yes,
            action: `carry out ${describeActions(plan)}`,
          });
        },
      },
    );
    progress.done();
    const elapsedMs = Date.now() - started;
    notePlatformImages(survey.inventory);
    const registryCalls =
      target.registryCalls === undefined
        ? undefined
        : { sweep: sweepCalls ?? 0, total: target.registryCalls() };
    if (flags.json)
      writeJson(io, surveyJson(survey, target, policy, globalEnforce, elapsedMs, registryCalls));
    else io.stdout.write(renderSurvey(survey, target, policy, globalEnforce, elapsedMs, registryCalls));
    if (survey.sweep.failed.length > 0 || stop.signal.aborted) io.setExitCode(2);
  } finally {
    process.off("SIGINT", onSignal);
    progress.done();
    await target.close();
  }
}

function describeProgress(report: {
  repositoriesDone: number;
  repositoriesTotal: number;
  manifests: number;
  elapsedMs: number;
}): string {
  const seconds = Math.max(report.elapsedMs / 1000, 0.001);
  const rate = report.manifests / seconds;
  const eta =
    report.repositoriesDone === 0
      ? "ETA ?"
      : `ETA ${formatDuration(((report.repositoriesTotal - report.repositoriesDone) * report.elapsedMs) / report.repositoriesDone)}`;
  return `${report.repositoriesDone}/${report.repositoriesTotal} repositories, ${report.manifests} manifests, ${rate.toFixed(0)} manifests/s, ${eta}`;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function describeActions(plan: RetentionPlan): string {
  const { delete: deletes, untag, bytesReclaimable } = plan.totals;
  return `${deletes} manifest deletion${deletes === 1 ? "" : "s"} and ${untag} untag${untag === 1 ? "" : "s"} (up to ${formatBytes(bytesReclaimable)})`;
}

// ---- the picture -------------------------------------------------------------------------------

interface RepositoryRow {
  readonly repository: string;
  readonly manifests: number;
  readonly tagged: number;
  readonly untagged: number;
  readonly tags: number;
  readonly platforms: string;
  readonly bytes: number;
}

function platformsOf(row: ManifestRecord): string[] {
  return (row.description?.platforms ?? []).map(
    (p) => `${p.os}/${p.architecture}${p.variant === undefined ? "" : `/${p.variant}`}`,
  );
}

/** Digests that are platform images of an index in the inventory. */
let platformImages: ReadonlySet<string> = new Set();

function kindOf(row: ManifestRecord): string {
  if (row.artifact === "chart") return "chart";
  if (platformImages.has(`${row.repository}@${row.digest}`)) return "platform image";
  const description = row.description;
  if (description === undefined) return "?";
  if (description.subject !== undefined) {
    const type = description.artifactType ?? "";
    if (type.includes("signature")) return "signature";
    if (type.includes("spdx") || type.includes("cyclonedx") || type.includes("sbom")) return "sbom";
    return "referrer";
  }
  if (description.children.length > 0) return "index";
  return description.artifactType === undefined ? "image" : "artifact";
}

function repositoryRows(inventory: readonly ManifestRecord[]): RepositoryRow[] {
  const rows = new Map<string, { row: RepositoryRow; platforms: Set<string> }>();
  for (const manifest of inventory) {
    const current = rows.get(manifest.repository) ?? {
      row: {
        repository: manifest.repository,
        manifests: 0,
        tagged: 0,
        untagged: 0,
        tags: 0,
        platforms: "",
        bytes: 0,
      },
      platforms: new Set<string>(),
    };
    for (const platform of platformsOf(manifest)) current.platforms.add(platform);
    current.row = {
      ...current.row,
      manifests: current.row.manifests + 1,
      tagged: current.row.tagged + (manifest.tags.length > 0 ? 1 : 0),
      untagged: current.row.untagged + (manifest.tags.length === 0 ? 1 : 0),
      tags: current.row.tags + manifest.tags.length,
      bytes: current.row.bytes + (manifest.description?.sizeInBytes ?? 0),
    };
    rows.set(manifest.repository, current);
  }
  return [...rows.values()].map(({ row, platforms }) => ({
    ...row,
    platforms: [...platforms].sort().join(", ") || "-",
  }));
}

const MAX_DETAIL_ROWS = 60;

function renderSurvey(
  survey: Survey,
  target: Target,
  policy: PolicyChoice,
  globalEnforce: boolean,
  elapsedMs: number,
  registryCalls: { sweep: number; total: number } | undefined,
): string {
  const { sweep } = survey;
  // Newest first in each repository: what a person looks for first.
  const inventory = [...survey.inventory].sort((a, b) =>
    a.repository !== b.repository
      ? a.repository < b.repository
        ? -1
        : 1
      : (b.description?.createdAt ?? "").localeCompare(a.description?.createdAt ?? ""),
  );
  const out: string[] = [];
  out.push(`Registry   ${target.description}`);
  out.push(
    `Sweep      ${sweep.sweepId}${sweep.resumed ? ` (resumed: ${sweep.alreadyDone} repositories were already done)` : ""}, ${formatDuration(elapsedMs)}${registryCalls === undefined ? "" : `, ${registryCalls.sweep} registry calls (${registryCalls.total} with retention planning)`}`,
  );
  const c = sweep.counts;
  out.push(
    `Found      ${sweep.repositories} repositories, ${c.manifests} manifests, ${c.tags} tags, ${formatBytes(c.bytes)} (image sizes added up; shared layers count once per image)`,
  );
  out.push(
    `Inventory  ${c.added} added, ${c.updated} updated, ${c.tombstoned} tombstoned, ${c.tagsRemoved} tags removed`,
  );
  if (sweep.failed.length > 0) {
    out.push("");
    out.push(
      `${sweep.failed.length} repositor${sweep.failed.length === 1 ? "y" : "ies"} could not be swept (run again to retry them; nothing was tombstoned or deleted in them):`,
    );
    for (const failure of sweep.failed) out.push(`  ${failure.repository}: ${failure.error}`);
  }

  out.push("", "INVENTORY");
  const repositories = repositoryRows(inventory);
  const repoColumns: Column<RepositoryRow>[] = [
    { header: "REPOSITORY", value: (r) => r.repository },
    { header: "MANIFESTS", value: (r) => String(r.manifests), align: "right" },
    { header: "TAGGED", value: (r) => String(r.tagged), align: "right" },
    { header: "UNTAGGED", value: (r) => String(r.untagged), align: "right" },
    { header: "TAGS", value: (r) => String(r.tags), align: "right" },
    { header: "SIZE", value: (r) => formatBytes(r.bytes), align: "right" },
    { header: "PLATFORMS", value: (r) => r.platforms },
  ];
  out.push(renderTable(repoColumns, repositories).trimEnd());

  if (inventory.length <= MAX_DETAIL_ROWS) {
    out.push("", "MANIFESTS");
    out.push(
      renderTable<ManifestRecord>(
        [
          { header: "REPOSITORY", value: (m) => m.repository },
          { header: "DIGEST", value: (m) => shortDigest(m.digest) },
          { header: "KIND", value: kindOf },
          { header: "TAGS", value: (m) => m.tags.join(", ") || "-" },
          { header: "PLATFORMS", value: (m) => platformsOf(m).join(", ") || "-" },
          { header: "SIZE", value: (m) => formatBytes(m.description?.sizeInBytes), align: "right" },
          { header: "CREATED", value: (m) => m.description?.createdAt?.slice(0, 10) ?? "?" },
        ],
        inventory,
      ).trimEnd(),
    );
  } else {
    out.push(`(${inventory.length} manifests: --json lists every one)`);
  }

  out.push(
    "",
    `SCAN QUEUE  ${survey.scansQueued.length} image${survey.scansQueued.length === 1 ? "" : "s"} queued for scanning (never scanned, or last scanned too long ago)`,
  );
  if (survey.scansQueued.length > 0) {
    const byDigest = new Map(inventory.map((m) => [`${m.repository}@${m.digest}`, m]));
    const shown = survey.scansQueued.slice(0, MAX_DETAIL_ROWS);
    out.push(
      renderTable(
        [
          { header: "REPOSITORY", value: (s: (typeof shown)[number]) => s.repository },
          { header: "DIGEST", value: (s) => shortDigest(s.digest) },
          {
            header: "TAGS",
            value: (s) => byDigest.get(`${s.repository}@${s.digest}`)?.tags.join(", ") || "-",
          },
          {
            header: "PLATFORMS",
            value: (s) => {
              const row = byDigest.get(`${s.repository}@${s.digest}`);
              return row === undefined ? "?" : platformsOf(row).join(", ") || "-";
            },
          },
        ],
        shown,
      ).trimEnd(),
    );
    if (survey.scansQueued.length > shown.length)
      out.push(`(${survey.scansQueued.length - shown.length} more: --json lists every one)`);
  }

  out.push("", renderRetention(survey.retention.plan, policy.source, false, inventory).trimEnd());
  out.push(renderExecution(survey, globalEnforce));
  return `${out.join("\n")}\n`;
}

function renderRetention(
  plan: RetentionPlan,
  source: string,
  forConfirmation: boolean,
  inventory: readonly ManifestRecord[] = [],
): string {
  const tagsOf = new Map(inventory.map((m) => [`${m.repository}@${m.digest}`, m.tags]));
  const out: string[] = [];
  out.push(`RETENTION PLAN  policy: ${source}`);
  const t = plan.totals;
  out.push(
    `  ${t.manifests} manifests: keep ${t.keep}, delete ${t.delete}, untag ${t.untag} (${t.tagsRemoved} tags), ${t.guarded} saved by a guard; up to ${formatBytes(t.bytesReclaimable)} reclaimable`,
  );
  const decisions = plan.repositories.flatMap((repository) =>
    repository.decisions.map((decision) => ({ repository: repository.repository, decision })),
  );
  const all = decisions.length <= MAX_DETAIL_ROWS && !forConfirmation;
  const shown = all
    ? decisions
    : decisions
        .filter((d) => d.decision.action !== "keep" || d.decision.guard !== null)
        .slice(0, MAX_DETAIL_ROWS);
  if (shown.length > 0) {
    out.push(
      renderTable<{ repository: string; decision: RetentionDecision }>(
        [
          { header: "REPOSITORY", value: (d) => d.repository },
          { header: "DIGEST", value: (d) => shortDigest(d.decision.digest) },
          {
            header: "TAGS",
            value: (d) =>
              (d.decision.tags.length > 0
                ? d.decision.tags
                : (tagsOf.get(`${d.repository}@${d.decision.digest}`) ?? [])
              ).join(", ") || "-",
          },
          { header: "ACTION", value: (d) => d.decision.action.toUpperCase() },
          {
            header: "RULE",
            value: (d) =>
              `${d.decision.ruleId ?? "-"}${d.decision.guard === null ? "" : ` [guard: ${d.decision.guard}]`}`,
          },
          { header: "REASON", value: (d) => d.decision.reason },
        ],
        shown,
      ).trimEnd(),
    );
  }
  if (!all && decisions.length > shown.length)
    out.push(`  (${decisions.length - shown.length} more decisions: --json has every one with its reason)`);
  return `${out.join("\n")}\n`;
}

function renderExecution(survey: Survey, globalEnforce: boolean): string {
  if (survey.execution !== undefined) {
    const totals = survey.execution.totals;
    const done = Object.entries(totals)
      .filter(([, count]) => count > 0)
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(", ");
    return `\nEXECUTED  ${survey.execution.mode}: ${done || "nothing to do"} (audit run ${survey.execution.runId})`;
  }
  if (survey.executionDeclined) return "\nNothing was deleted: the plan was not confirmed.";
  return `\nDry run: nothing was deleted.${globalEnforce ? " Pass --enforce to carry out the plan." : " To carry out the plan: --enforce, with ACR_STEWARD_RETENTION_ENFORCE=true."}`;
}

function surveyJson(
  survey: Survey,
  target: Target,
  policy: PolicyChoice,
  globalEnforce: boolean,
  elapsedMs: number,
  registryCalls: { sweep: number; total: number } | undefined,
): unknown {
  return {
    registry: target.registry.loginServer,
    demo: target.demo,
    source: target.description,
    elapsedMs,
    ...(registryCalls === undefined ? {} : { registryCalls }),
    sweep: survey.sweep,
    inventory: {
      repositories: repositoryRows(survey.inventory),
      manifests: survey.inventory.map((m) => ({
        repository: m.repository,
        digest: m.digest,
        kind: kindOf(m),
        tags: m.tags,
        platforms: platformsOf(m),
        sizeInBytes: m.description?.sizeInBytes ?? null,
        createdAt: m.description?.createdAt ?? null,
        mediaType: m.mediaType,
      })),
    },
    scanQueue: survey.scansQueued,
    retention: {
      policy: policy.source,
      dryRun: survey.execution === undefined || survey.execution.dryRun,
      globalEnforce,
      plan: survey.retention.plan,
      ...(survey.execution === undefined ? {} : { execution: survey.execution }),
    },
  };
}
