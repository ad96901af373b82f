import { type Command, Option } from "commander";
import { z } from "zod";
import { QUEUE_NAMES } from "../../shared/config/settings.js";
import { ConfigurationError } from "../../shared/errors/index.js";
import { DigestSchema, RepositoryNameSchema } from "../../shared/oci/reference.js";
import { createQueueClient } from "../../shared/queues/queueClients.js";
import { SeveritySchema } from "../../shared/scanning/severity.js";
import { openScanStorage } from "../../shared/scanning/store/clients.js";
import { type ScanRecord, ScanStatusSchema } from "../../shared/scanning/store/scanRecord.js";
import { type PoisonEntry, StorageScanRequestQueue } from "../../shared/scanning/store/scanRequestQueue.js";
import { addStoreOption, type CliDependencies, defaultDependencies, parseFlags } from "../globalOptions.js";
import { formatTime, renderTable, shortDigest, writeJson } from "../output.js";

const ScansFlagsSchema = z.object({
  store: z.string().min(1).optional(),
  minSeverity: z
    .string()
    .transform((text) => text.toUpperCase())
    .pipe(SeveritySchema)
    .optional(),
  repo: RepositoryNameSchema.optional(),
  registry: z.string().min(1).optional(),
  status: ScanStatusSchema.optional(),
  poison: z.boolean().default(false),
  digest: DigestSchema.optional(),
  queue: z.string().min(1).default(QUEUE_NAMES.scanRequests),
  json: z.boolean().default(false),
});

/**
 * `acr-steward scans`: the latest scan result of every digest (filtered), or with `--poison` the scan
 * requests the worker gave up on, with their reasons.
 */
export function registerScansCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addStoreOption(
    program.command("scans").description("List stored scan results (latest per digest), or the poison queue"),
  )
    .addOption(
      new Option("--min-severity <level>", "only results with a finding at this level or worse").choices([
        "CRITICAL",
        "HIGH",
        "MEDIUM",
        "LOW",
        "UNKNOWN",
        "critical",
        "high",
        "medium",
        "low",
        "unknown",
      ]),
    )
    .addOption(new Option("--repo <repository>", "only this repository"))
    .addOption(new Option("--registry <login-server>", "only this registry"))
    .addOption(
      new Option("--status <status>", "only this status").choices(["completed", "skipped", "failed"]),
    )
    .addOption(new Option("--poison", "show the scan requests moved to the poison queue, with reasons"))
    .addOption(
      new Option("--digest <digest>", "every stored scan of this digest, newest first (its history)"),
    )
    .addOption(new Option("--queue <name>", "the scan request queue (its poison queue is <name>-poison)"))
    .addOption(new Option("--json", "machine-readable JSON on stdout, nothing else"))
    .action(async (options: unknown) => {
      const flags = parseFlags(ScansFlagsSchema, options);
      if (flags.store === undefined) {
        throw new ConfigurationError("no store: pass --store <connection-string> or set ACR_STEWARD_STORAGE");
      }
      const connection = { kind: "connectionString" as const, connectionString: flags.store };

      if (flags.poison) {
        const queue = new StorageScanRequestQueue(
          createQueueClient(connection, flags.queue),
          createQueueClient(connection, `${flags.queue}-poison`),
        );
        const entries = await queue.peekPoison();
        if (flags.json) writeJson(deps.io, { queue: queue.poisonName, messages: entries });
        else deps.io.stdout.write(renderPoison(entries));
        return;
      }

      const { store } = openScanStorage(connection);
      if (flags.digest !== undefined) {
        const history = await store.history(flags.digest);
        if (flags.json) writeJson(deps.io, { digest: flags.digest, scans: history });
        else deps.io.stdout.write(renderScans(history));
        return;
      }
      const records = (
        await store.list({
          ...(flags.minSeverity === undefined ? {} : { minSeverity: flags.minSeverity }),
          ...(flags.repo === undefined ? {} : { repository: flags.repo }),
          ...(flags.registry === undefined ? {} : { registry: flags.registry }),
          ...(flags.status === undefined ? {} : { status: flags.status }),
        })
      ).sort(
        (a, b) =>
          a.registry.localeCompare(b.registry) ||
          a.repository.localeCompare(b.repository) ||
          b.scannedAt.localeCompare(a.scannedAt),
      );
      if (flags.json) writeJson(deps.io, { scans: records });
      else deps.io.stdout.write(renderScans(records));
    });
}

export function renderScans(records: readonly ScanRecord[]): string {
  const count = (level: keyof ScanRecord["findings"]) => (r: ScanRecord) => String(r.findings[level]);
  return renderTable<ScanRecord>(
    [
      { header: "REPOSITORY", value: (r) => `${r.registry}/${r.repository}` },
      { header: "DIGEST", value: (r) => shortDigest(r.digest) },
      { header: "STATUS", value: (r) => r.status },
      { header: "CRIT", value: count("CRITICAL"), align: "right" },
      { header: "HIGH", value: count("HIGH"), align: "right" },
      { header: "MED", value: count("MEDIUM"), align: "right" },
      { header: "LOW", value: count("LOW"), align: "right" },
      { header: "UNK", value: count("UNKNOWN"), align: "right" },
      { header: "FIXABLE", value: (r) => String(r.fixable), align: "right" },
      { header: "OS", value: (r) => (r.os === null ? "-" : `${r.os.family} ${r.os.name ?? ""}`.trim()) },
      { header: "EOL", value: (r) => (r.endOfLife ? "yes" : "") },
      { header: "SCANNED", value: (r) => formatTime(new Date(r.scannedAt)) },
    ],
    records,
  );
}

export function renderPoison(entries: readonly PoisonEntry[]): string {
  return renderTable<PoisonEntry>(
    [
      {
        header: "POISONED",
        value: (e) => formatTime(e.record ? new Date(e.record.poisonedAt) : e.insertedOn),
      },
      { header: "KIND", value: (e) => e.record?.kind ?? "unreadable" },
      { header: "TRIES", value: (e) => (e.record ? String(e.record.dequeueCount) : ""), align: "right" },
      { header: "IMAGE", value: (e) => imageOf(e.record?.body) },
      {
        header: "REASON",
        value: (e) => (e.record ? firstLine(e.record.reason) : firstLine(e.unreadable ?? "")).slice(0, 160),
      },
    ],
    entries,
  );
}

function imageOf(body: unknown): string {
  if (typeof body !== "object" || body === null) return "?";
  const { registry, repository, digest } = body as Record<string, unknown>;
  if (typeof registry !== "string" || typeof repository !== "string" || typeof digest !== "string")
    return "?";
  return `${registry}/${repository}@${shortDigest(digest)}`;
}

function firstLine(text: string): string {
  return text.split("\n").find((line) => line.trim() !== "") ?? "";
}
