import { type Command, Option } from "commander";
import { z } from "zod";
import type { StorageConnection } from "../../shared/config/config.js";
import { TABLE_NAMES } from "../../shared/config/settings.js";
import { NotFoundError, UnavailableError } from "../../shared/errors/index.js";
import type { ManifestRecord } from "../../shared/inventory/ports.js";
import { createTableClient } from "../../shared/inventory/tableClients.js";
import { TableInventoryStore } from "../../shared/inventory/tableInventoryStore.js";
import { LoginServerSchema, RepositoryNameSchema } from "../../shared/oci/reference.js";
import type { SeverityCounts } from "../../shared/scanning/severity.js";
import type { ScanRecord } from "../../shared/scanning/store/scanRecord.js";
import { TableScanStore } from "../../shared/scanning/store/tableScanStore.js";
import {
  defaultStoreCommandDependencies,
  type StoreCommandDependencies,
  withStore,
} from "../embeddedStorage.js";
import { addStoreOption, parseFlags } from "../globalOptions.js";
import {
  type Column,
  createProgress,
  formatBytes,
  formatTime,
  renderTable,
  shortDigest,
  writeJson,
} from "../output.js";

/**
 * `acr-steward images`: what the inventory knows (from events, replays and sweeps), with the latest
 * scan result of each digest when there is one. Reads only; works on `--store` or the embedded store.
 */

const ImagesFlagsSchema = z.object({
  repo: RepositoryNameSchema.optional(),
  registry: LoginServerSchema.optional(),
  includeDeleted: z.boolean().default(false),
  store: z.string().min(1).optional(),
  json: z.boolean().default(false),
});

/** Up to this many images, scan results are read digest by digest; beyond, the scans table is read once. */
const SCAN_READS_PER_DIGEST_LIMIT = 200;
const SCAN_READ_CONCURRENCY = 8;

export interface ImageScan {
  readonly status: ScanRecord["status"];
  readonly scannedAt: string;
  readonly highest: ScanRecord["highest"];
  readonly findings: SeverityCounts;
  readonly fixable: number;
}

/** One line of `images --json`; every key is always there, `null` when unknown. */
export interface ImageRow {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly tags: readonly string[];
  readonly mediaType: string;
  readonly artifact: ManifestRecord["artifact"];
  readonly state: ManifestRecord["state"];
  /** `os/architecture[/variant]` of the image or of an index's children; empty until enriched. */
  readonly platforms: readonly string[];
  /** Manifest, config and layers; undefined until a registry read enriched the row. */
  readonly sizeInBytes: number | null;
  /** Bytes of the manifest itself, as the events reported. */
  readonly manifestSize: number;
  readonly createdAt: string | null;
  readonly firstPushedAt: string | null;
  readonly pushedAt: string | null;
  readonly pushedBy: string | null;
  readonly deletedAt: string | null;
  readonly deletedBy: string | null;
  /** The row holds only what events said; a sweep adds the registry's details. */
  readonly needsEnrichment: boolean;
  /** The latest scan of the digest; null when none is known. */
  readonly scan: ImageScan | null;
}

export function registerImagesCommand(
  program: Command,
  deps: StoreCommandDependencies = defaultStoreCommandDependencies(),
): void {
  addStoreOption(
    program
      .command("images")
      .description(
        "List the inventory: digest, repository, tags, platform, size, pushed at/by, deleted at, scan status",
      )
      .addOption(new Option("--repo <repository>", "only this repository (fastest with --registry)"))
      .addOption(new Option("--registry <login-server>", "only this registry"))
      .addOption(new Option("--include-deleted", "also images whose deletion was recorded (tombstones)"))
      .addOption(new Option("--json", "machine-readable JSON on stdout, nothing else")),
  ).action(async (options: unknown) => {
    const flags = parseFlags(ImagesFlagsSchema, options);
    const result = await withStore(
      flags.store,
      async (store) => {
        const storage: StorageConnection = {
          kind: "connectionString",
          connectionString: store.connectionString,
        };
        const progress = createProgress(deps.io, "reading the inventory", { quiet: flags.json });
        try {
          const records = await listRecords(storage, flags, (count) => progress.update(`${count} images`));
          const scans = await latestScans(storage, records);
          return { rows: records.map((record) => toImageRow(record, scans.get(record.digest))), store };
        } finally {
          progress.done();
        }
      },
      deps.embeddedStorage,
    );

    const rows = sortRows(result.rows);
    if (flags.json) {
      writeJson(deps.io, { images: rows });
      return;
    }
    deps.io.stdout.write(renderImages(rows));
    if (rows.length === 0) {
      deps.io.stderr.write(`note: no images${describeFilter(flags)} in ${result.store.description}\n`);
    }
  });
}

async function listRecords(
  storage: StorageConnection,
  flags: z.infer<typeof ImagesFlagsSchema>,
  onProgress: (count: number) => void,
): Promise<ManifestRecord[]> {
  const inventory = new TableInventoryStore(
    {
      manifests: createTableClient(storage, TABLE_NAMES.manifests),
      tags: createTableClient(storage, TABLE_NAMES.tags),
      audit: createTableClient(storage, TABLE_NAMES.audit),
    },
    { enricher: READ_ONLY },
  );
  // A repository is a partition only together with its registry; without one, every row is read.
  const listing = inventory.listImages({
    ...(flags.registry === undefined ? {} : { registry: flags.registry }),
    ...(flags.repo !== undefined && flags.registry !== undefined ? { repository: flags.repo } : {}),
    includeDeleted: flags.includeDeleted,
  });
  const records: ManifestRecord[] = [];
  try {
    for await (const record of listing) {
      if (flags.repo === undefined || record.repository === flags.repo) records.push(record);
      onProgress(records.length);
    }
  } catch (error) {
    // No manifests table yet: nothing was ever recorded in this store.
    if (error instanceof NotFoundError && records.length === 0) return [];
    throw error;
  }
  return records;
}

/** Listing never reads the registry; an enricher that is called would be a bug. */
const READ_ONLY = {
  async describe(): Promise<never> {
    throw new UnavailableError("images reads the inventory only");
  },
};

async function latestScans(
  storage: StorageConnection,
  records: readonly ManifestRecord[],
): Promise<Map<string, ScanRecord>> {
  const scans = new TableScanStore(createTableClient(storage, TABLE_NAMES.scans));
  const digests = [...new Set(records.map((record) => record.digest))];
  const found = new Map<string, ScanRecord>();
  if (digests.length === 0) return found;
  if (digests.length > SCAN_READS_PER_DIGEST_LIMIT) {
    const wanted = new Set(digests);
    try {
      for (const scan of await scans.list()) if (wanted.has(scan.digest)) found.set(scan.digest, scan);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    return found;
  }
  let next = 0;
  const workers = Array.from({ length: Math.min(SCAN_READ_CONCURRENCY, digests.length) }, async () => {
    while (next < digests.length) {
      const digest = digests[next++] as string;
      const scan = await scans.latest(digest);
      if (scan !== undefined) found.set(digest, scan);
    }
  });
  await Promise.all(workers);
  return found;
}

export function toImageRow(record: ManifestRecord, scan: ScanRecord | undefined): ImageRow {
  const description = record.description;
  return {
    registry: record.registry,
    repository: record.repository,
    digest: record.digest,
    tags: record.tags,
    mediaType: record.mediaType,
    artifact: record.artifact,
    state: record.state,
    platforms: (description?.platforms ?? []).map((p) =>
      [p.os, p.architecture, p.variant].filter((part) => part !== undefined && part !== "").join("/"),
    ),
    sizeInBytes: description?.sizeInBytes ?? null,
    manifestSize: record.manifestSize,
    createdAt: description?.createdAt ?? null,
    firstPushedAt: record.firstPushedAt ?? null,
    pushedAt: record.lastPushedAt ?? null,
    pushedBy: record.pushedBy ?? null,
    deletedAt: record.deletedAt ?? null,
    deletedBy: record.deletedBy ?? null,
    needsEnrichment: record.needsEnrichment,
    scan:
      scan === undefined
        ? null
        : {
            status: scan.status,
            scannedAt: scan.scannedAt,
            highest: scan.highest,
            findings: scan.findings,
            fixable: scan.fixable,
          },
  };
}

/** By registry and repository, newest push first; digest breaks ties so the order is stable. */
function sortRows(rows: readonly ImageRow[]): ImageRow[] {
  const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...rows].sort(
    (a, b) =>
      text(a.registry, b.registry) ||
      text(a.repository, b.repository) ||
      text(b.pushedAt ?? "", a.pushedAt ?? "") ||
      text(a.digest, b.digest),
  );
}

export function renderImages(rows: readonly ImageRow[]): string {
  const registries = new Set(rows.map((row) => row.registry));
  const columns: Column<ImageRow>[] = [
    ...(registries.size > 1 ? [{ header: "REGISTRY", value: (row: ImageRow) => row.registry }] : []),
    { header: "REPOSITORY", value: (row) => row.repository },
    { header: "DIGEST", value: (row) => shortDigest(row.digest) },
    { header: "TAGS", value: (row) => (row.tags.length === 0 ? "-" : row.tags.join(",")) },
    { header: "PLATFORM", value: platformText },
    {
      header: "SIZE",
      value: (row) => (row.sizeInBytes === null ? "?" : formatBytes(row.sizeInBytes)),
      align: "right",
    },
    { header: "PUSHED", value: (row) => timeText(row.pushedAt) },
    { header: "BY", value: (row) => row.pushedBy ?? "-" },
    { header: "DELETED", value: (row) => (row.deletedAt === null ? "-" : timeText(row.deletedAt)) },
    { header: "SCAN", value: (row) => scanText(row.scan) },
  ];
  return renderTable(columns, rows);
}

function platformText(row: ImageRow): string {
  if (row.platforms.length > 0) return row.platforms.join(",");
  if (row.artifact === "chart") return "helm chart";
  // Not read from the registry yet: unknown rather than "none".
  return row.needsEnrichment || row.state === "deleted" ? "?" : "-";
}

function timeText(iso: string | null): string {
  return iso === null ? "-" : formatTime(new Date(iso));
}

const SEVERITY_LABELS: readonly [keyof SeverityCounts, string][] = [
  ["CRITICAL", "critical"],
  ["HIGH", "high"],
  ["MEDIUM", "medium"],
  ["LOW", "low"],
  ["UNKNOWN", "unknown"],
];

/** `unknown` (never scanned), `failed`, `skipped`, `clean`, or the two worst non-zero counts. */
export function scanText(scan: ImageScan | null): string {
  if (scan === null) return "unknown";
  if (scan.status !== "completed") return scan.status;
  const counts = SEVERITY_LABELS.filter(([key]) => scan.findings[key] > 0).map(
    ([key, label]) => `${scan.findings[key]} ${label}`,
  );
  return counts.length === 0 ? "clean" : counts.slice(0, 2).join(", ");
}

function describeFilter(flags: z.infer<typeof ImagesFlagsSchema>): string {
  const parts = [
    flags.registry === undefined ? undefined : `registry ${flags.registry}`,
    flags.repo === undefined ? undefined : `repository ${flags.repo}`,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? "" : ` for ${parts.join(", ")}`;
}
