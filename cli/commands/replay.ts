import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { z } from "zod";
import { loadConfig } from "../../shared/config/config.js";
import { STORAGE_CONNECTION } from "../../shared/config/settings.js";
import { ConfigurationError, ValidationError } from "../../shared/errors/index.js";
import {
  type ParseRegistryEventsResult,
  parseRegistryEvents,
  type RejectedEvent,
  type SkippedEvent,
} from "../../shared/events/parse.js";
import type { RegistryEvent } from "../../shared/events/registryEvent.js";
import { type IngestReport, ingestEvents } from "../../shared/ingest/ingestEvents.js";
import { LoginServerSchema } from "../../shared/oci/reference.js";
import {
  buildIngestRuntime,
  type IngestRuntime,
  RECORD_FROM_EVENT_ONLY,
} from "../../shared/runtime/index.js";
import {
  type CommandStore,
  defaultStoreCommandDependencies,
  type StoreCommandDependencies,
  withStore,
} from "../embeddedStorage.js";
import { ExitCode } from "../exitCodes.js";
import { addStoreOption, parseFlags } from "../globalOptions.js";
import { type Column, createProgress, renderTable, writeJson } from "../output.js";

/**
 * `acr-steward replay FILE...`: feeds saved deliveries (Event Grid arrays, CloudEvents, ACR webhook
 * bodies, Event Grid dead-letter blobs as JSON or JSON lines) through the parser and the ingest
 * use-case the functions use, into the inventory of `--store` or the embedded store. Rejected events
 * are reported with their file and JSON path and the others are still applied (exit 1); a file that
 * cannot be read or is not JSON stops the command before anything is written (exit 2).
 */

const ReplayFlagsSchema = z.object({
  registries: z.string().optional(),
  defaultRegistry: LoginServerSchema.optional(),
  store: z.string().min(1).optional(),
  json: z.boolean().default(false),
});

/** Events applied per ingest call: progress moves, memory stays flat, the inventory batches per repository. */
const EVENTS_PER_BATCH = 500;

export interface FileReplaySummary {
  readonly file: string;
  /** Events found in the file (applied or not). */
  readonly events: number;
  readonly applied: number;
  readonly duplicates: number;
  readonly stale: number;
  readonly tombstoned: number;
  readonly rejected: number;
  readonly skipped: number;
  /** Recorded from the event alone; a sweep reads their details from the registry later. */
  readonly needsEnrichment: number;
  readonly scansQueued: number;
  readonly retentionQueued: number;
  readonly rejections: readonly EventProblem[];
  readonly skips: readonly EventProblem[];
}

export interface EventProblem {
  /** JSON path in the file, e.g. `$[3].data.target.digest`. */
  readonly path: string;
  /** 1-based line in a JSON-lines file. */
  readonly line?: number;
  readonly eventId?: string;
  readonly message: string;
}

type Counts = Omit<FileReplaySummary, "file" | "rejections" | "skips">;

export function registerReplayCommand(
  program: Command,
  deps: StoreCommandDependencies = defaultStoreCommandDependencies(),
): void {
  addStoreOption(
    program
      .command("replay")
      .description(
        "Feed saved events (Event Grid, CloudEvents, ACR webhook bodies, dead-letter blobs) through the ingest path",
      )
      .argument("<file...>", "JSON or JSON-lines files")
      .addOption(
        new Option(
          "--registries <list>",
          "comma-separated allow-list of login servers for this run (instead of ACR_STEWARD_REGISTRIES)",
        ),
      )
      .addOption(
        new Option(
          "--default-registry <login-server>",
          "registry of events that name none (chart events, webhooks without request.host); default: the allow-list's only entry",
        ),
      )
      .addOption(new Option("--json", "machine-readable JSON on stdout, nothing else")),
  ).action(async (files: string[], options: unknown) => {
    const flags = parseFlags(ReplayFlagsSchema, options);
    const registries = allowListFor(flags.registries, deps.env);
    const defaultRegistry = flags.defaultRegistry ?? (registries.length === 1 ? registries[0] : undefined);
    if (defaultRegistry !== undefined && !registries.includes(defaultRegistry)) {
      throw new ValidationError(
        `--default-registry: ${defaultRegistry} is not in the allow-list (${registries.join(", ")})`,
      );
    }
    // Every file is read and decoded before anything is written: a typo in the file list costs nothing.
    const deliveries = await readDeliveries(files);

    const summaries = await withStore(
      flags.store,
      async (store) => {
        const runtime = await replayRuntime(store, registries, deps.env);
        const parseOptions = {
          ...runtime.parseOptions,
          ...(defaultRegistry === undefined ? {} : { defaultRegistry }),
        };
        const out: FileReplaySummary[] = [];
        for (const delivery of deliveries) {
          const now = deps.now();
          const parsed = parseRegistryEvents(delivery.body, { ...parseOptions, now });
          const report = await ingestInBatches(parsed.events, runtime, now, deps, delivery.file, flags.json);
          out.push(summarize(delivery.file, parsed, report));
        }
        return out;
      },
      deps.embeddedStorage,
    );

    for (const summary of summaries) {
      for (const problem of summary.rejections)
        deps.io.stderr.write(`${describeProblem(summary.file, problem)}\n`);
      if (!flags.json) {
        for (const skip of summary.skips)
          deps.io.stderr.write(`${describeProblem(summary.file, skip, "skipped")}\n`);
      }
    }
    const namesNoRegistry = summaries.some((summary) =>
      summary.rejections.some((problem) => problem.message.startsWith("the event names no registry")),
    );
    if (namesNoRegistry && defaultRegistry === undefined) {
      deps.io.stderr.write(
        "hint: events that name no registry (chart events, webhook bodies) need --default-registry <login-server>\n",
      );
    }
    const totals = total(summaries);
    if (flags.json) {
      writeJson(deps.io, { files: summaries, totals });
    } else {
      deps.io.stdout.write(renderSummaries(summaries, totals));
      if (totals.needsEnrichment > 0) {
        deps.io.stderr.write(
          `note: ${totals.needsEnrichment} event(s) recorded from the event alone (no registry was read); a sweep adds platform, size and created time later\n`,
        );
      }
    }
    if (totals.rejected > 0) deps.io.setExitCode(ExitCode.negative);
  });
}

/** `--registries` for this run, else ACR_STEWARD_REGISTRIES; replay never guesses which registries to trust. */
export function allowListFor(flag: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const [source, text] =
    flag !== undefined ? ["--registries", flag] : ["ACR_STEWARD_REGISTRIES", env.ACR_STEWARD_REGISTRIES];
  const entries = (text ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) {
    throw new ConfigurationError(
      flag !== undefined
        ? "--registries: name at least one registry login server (e.g. myregistry.azurecr.io)"
        : "replay needs an allow-list: pass --registries myregistry.azurecr.io[,...] or set ACR_STEWARD_REGISTRIES",
    );
  }
  const servers = entries.map((entry) => {
    const parsed = LoginServerSchema.safeParse(entry);
    if (!parsed.success) throw new ValidationError(`${source}: '${entry}' is not a registry login server`);
    return parsed.data;
  });
  return [...new Set(servers)];
}

interface Delivery {
  readonly file: string;
  /** Parsed JSON, or the text of a JSON-lines / base64 file for the parser to split. */
  readonly body: unknown;
}

async function readDeliveries(files: readonly string[]): Promise<Delivery[]> {
  const problems: string[] = [];
  const deliveries: Delivery[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push(`${file}: cannot read the file${code ? ` (${code})` : ""}`);
      continue;
    }
    const decoded = decodeDeliveryText(text);
    if (decoded.ok) deliveries.push({ file, body: decoded.body });
    else problems.push(`${file}: ${decoded.reason}`);
  }
  if (problems.length > 0) {
    throw new ValidationError(`nothing was replayed:\n  ${problems.join("\n  ")}`);
  }
  return deliveries;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Is the file JSON in one of the forms deliveries are saved in: one document, JSON lines (one event
 * per line; a broken line is a rejected event, not a broken file) or a base64 queue message?
 */
export function decodeDeliveryText(
  text: string,
): { ok: true; body: unknown } | { ok: false; reason: string } {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed === "") return { ok: false, reason: "the file is empty, not JSON" };
  let firstError: string;
  try {
    return { ok: true, body: JSON.parse(trimmed) };
  } catch (error) {
    firstError = error instanceof Error ? error.message : String(error);
  }
  const lines = trimmed.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length > 1 && lines.some(isJsonObject)) return { ok: true, body: trimmed };
  if (BASE64.test(trimmed) && trimmed.length % 4 === 0) {
    try {
      JSON.parse(Buffer.from(trimmed, "base64").toString("utf8"));
      return { ok: true, body: trimmed };
    } catch {
      // Not a queue message either: report the first error below.
    }
  }
  return { ok: false, reason: `not JSON or JSON lines (${firstError})` };
}

function isJsonObject(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * The ingest runtime the functions use, with the run's allow-list and store. Nothing reads the
 * registry: pushes are recorded as the events tell them and marked for enrichment by the next sweep.
 * Scan requests skip digests the store's `scans` table says were scanned recently.
 */
async function replayRuntime(
  store: CommandStore,
  registries: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<IngestRuntime> {
  const settings: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    // Identity-based storage settings would win over the connection string: this run uses the store.
    if (name !== STORAGE_CONNECTION && !name.startsWith(`${STORAGE_CONNECTION}__`)) settings[name] = value;
  }
  settings.ACR_STEWARD_REGISTRIES = registries.join(",");
  settings[STORAGE_CONNECTION] = store.connectionString;
  return buildIngestRuntime(loadConfig(settings), { enricher: RECORD_FROM_EVENT_ONLY });
}

async function ingestInBatches(
  events: readonly RegistryEvent[],
  runtime: IngestRuntime,
  now: Date,
  deps: StoreCommandDependencies,
  file: string,
  quiet: boolean,
): Promise<IngestReport[]> {
  const progress = createProgress(deps.io, `replaying ${file}`, { quiet });
  const reports: IngestReport[] = [];
  try {
    for (let start = 0; start < events.length; start += EVENTS_PER_BATCH) {
      const batch = events.slice(start, start + EVENTS_PER_BATCH);
      reports.push(await ingestEvents(batch, runtime.ingest, now));
      progress.update(`${Math.min(start + EVENTS_PER_BATCH, events.length)}/${events.length} events`);
    }
  } finally {
    progress.done();
  }
  return reports;
}

function summarize(
  file: string,
  parsed: ParseRegistryEventsResult,
  reports: readonly IngestReport[],
): FileReplaySummary {
  const sum = (pick: (report: IngestReport) => number) => reports.reduce((n, report) => n + pick(report), 0);
  // The inventory refuses an event only when its names cannot be keys; it counts as rejected too.
  const notApplied: EventProblem[] = reports.flatMap((report) =>
    report.errors.map((error) => ({
      path: "$",
      ...(error.eventId === undefined ? {} : { eventId: error.eventId }),
      message: `not applied to the inventory: ${error.message}`,
    })),
  );
  const rejections = [...parsed.rejected.map(problemOfRejection), ...notApplied];
  return {
    file,
    events: parsed.events.length + parsed.rejected.length + parsed.skipped.length,
    applied: sum((r) => r.applied),
    duplicates: sum((r) => r.duplicates),
    stale: sum((r) => r.stale),
    tombstoned: sum((r) => r.tombstoned),
    rejected: rejections.length,
    skipped: parsed.skipped.length,
    needsEnrichment: sum((r) => r.needsEnrichment),
    scansQueued: sum((r) => r.scansQueued),
    retentionQueued: sum((r) => r.retentionQueued),
    rejections,
    skips: parsed.skipped.map(problemOfSkip),
  };
}

function problemOfRejection(rejection: RejectedEvent): EventProblem {
  return {
    path: rejection.path,
    ...(rejection.line === undefined ? {} : { line: rejection.line }),
    ...(rejection.eventId === undefined ? {} : { eventId: rejection.eventId }),
    message: rejection.message,
  };
}

function problemOfSkip(skip: SkippedEvent): EventProblem {
  return {
    path: skip.path,
    ...(skip.line === undefined ? {} : { line: skip.line }),
    ...(skip.eventId === undefined ? {} : { eventId: skip.eventId }),
    message: skip.reason,
  };
}

/** `events.json $[3].data.target.digest: must be a digest` (line and event id when known). */
export function describeProblem(file: string, problem: EventProblem, label?: string): string {
  const where = [
    problem.line === undefined ? undefined : `line ${problem.line}`,
    problem.eventId === undefined ? undefined : `event ${problem.eventId}`,
  ].filter((part) => part !== undefined);
  const context = where.length > 0 ? ` (${where.join(", ")})` : "";
  return `${file} ${problem.path}${context}: ${label === undefined ? "" : `${label}: `}${problem.message}`;
}

const COUNT_KEYS = [
  "events",
  "applied",
  "duplicates",
  "stale",
  "tombstoned",
  "rejected",
  "skipped",
  "needsEnrichment",
  "scansQueued",
  "retentionQueued",
] as const satisfies readonly (keyof Counts)[];

function total(summaries: readonly FileReplaySummary[]): Counts {
  const totals = Object.fromEntries(COUNT_KEYS.map((key) => [key, 0])) as Record<keyof Counts, number>;
  for (const summary of summaries) for (const key of COUNT_KEYS) totals[key] += summary[key];
  return totals;
}

function renderSummaries(summaries: readonly FileReplaySummary[], totals: Counts): string {
  const count = (header: string, key: keyof Counts): Column<{ file: string } & Counts> => ({
    header,
    value: (row) => String(row[key]),
    align: "right",
  });
  const rows: ({ file: string } & Counts)[] = [...summaries];
  if (summaries.length > 1) rows.push({ ...totals, file: "total" });
  return renderTable(
    [
      { header: "FILE", value: (row) => row.file },
      count("EVENTS", "events"),
      count("APPLIED", "applied"),
      count("DUPLICATES", "duplicates"),
      count("STALE", "stale"),
      count("TOMBSTONED", "tombstoned"),
      count("REJECTED", "rejected"),
      count("SKIPPED", "skipped"),
    ],
    rows,
  );
}
