import { loadConfig, type StewardConfig } from "../shared/config/config.js";
import { QUEUE_NAMES, TABLE_NAMES } from "../shared/config/settings.js";
import { UnavailableError } from "../shared/errors/index.js";
import type { ParseRegistryEventsOptions } from "../shared/events/parse.js";
import type { IngestDependencies } from "../shared/ingest/ingestEvents.js";
import type { ManifestEnricher } from "../shared/inventory/ports.js";
import { createTableClient } from "../shared/inventory/tableClients.js";
import { TableInventoryStore } from "../shared/inventory/tableInventoryStore.js";
import { TableCoordinationMarks } from "../shared/queues/coordinationMarks.js";
import { FollowUpScheduler, NEVER_SCANNED, type ScanStatusLookup } from "../shared/queues/followUp.js";
import { RetentionRequestSchema, ScanRequestSchema } from "../shared/queues/messages.js";
import { createQueueClient } from "../shared/queues/queueClients.js";
import { StorageWorkQueue } from "../shared/queues/workQueue.js";

/**
 * The composition root of the ingest functions: validated configuration and the adapters built
 * from it, once per cold start. Handlers receive it through `ingestRuntime()`; tests build their
 * own with `buildIngestRuntime` (real Azurite, fake registry reader).
 */

export interface IngestRuntime {
  readonly config: StewardConfig;
  /** Parser options from configuration (the allow-list, the unknown-event policy). */
  readonly parseOptions: ParseRegistryEventsOptions;
  readonly ingest: IngestDependencies;
  /** The webhook's shared secret (never logged). */
  readonly webhookSecret: string | undefined;
}

export interface IngestRuntimeParts {
  /** Reads manifests from the registry on push. */
  readonly enricher?: ManifestEnricher;
  /** When a digest was last scanned. */
  readonly scanStatus?: ScanStatusLookup;
  /** Table and queue names (tests use their own). */
  readonly names?: {
    readonly tables?: Partial<Record<keyof typeof TABLE_NAMES, string>>;
    readonly queues?: Partial<Record<keyof typeof QUEUE_NAMES, string>>;
  };
}

/**
 * Until the registry reader is wired in here, every push is recorded from the event alone and
 * marked `needsEnrichment` for the reconciliation sweep: never dropped.
 */
const NO_REGISTRY_READER: ManifestEnricher = {
  async describe() {
    throw new UnavailableError("no registry reader is configured for enrichment");
  },
};

export async function buildIngestRuntime(
  config: StewardConfig,
  parts: IngestRuntimeParts = {},
): Promise<IngestRuntime> {
  const tables = { ...TABLE_NAMES, ...parts.names?.tables };
  const queues = { ...QUEUE_NAMES, ...parts.names?.queues };
  const inventory = new TableInventoryStore(
    {
      manifests: createTableClient(config.storage, tables.manifests),
      tags: createTableClient(config.storage, tables.tags),
      audit: createTableClient(config.storage, tables.audit),
    },
    { enricher: parts.enricher ?? NO_REGISTRY_READER },
  );
  const marks = new TableCoordinationMarks(createTableClient(config.storage, tables.coordination));
  const scanQueue = new StorageWorkQueue(
    createQueueClient(config.storage, queues.scanRequests),
    ScanRequestSchema,
  );
  const retentionQueue = new StorageWorkQueue(
    createQueueClient(config.storage, queues.retentionRequests),
    RetentionRequestSchema,
  );
  // Infrastructure creates these in Azure; creating them here keeps local runs and tests self-contained.
  await Promise.all([
    inventory.ensureTables(),
    marks.ensureTable(),
    scanQueue.ensureQueue(),
    retentionQueue.ensureQueue(),
  ]);

  const followUp = new FollowUpScheduler({
    marks,
    scanStatus: parts.scanStatus ?? NEVER_SCANNED,
    scanQueue,
    retentionQueue,
    scanFreshnessMs: config.scanFreshnessMs,
    retentionDebounceMs: config.retentionDebounceMs,
  });
  return {
    config,
    parseOptions: {
      allowedRegistries: new Set(config.registries),
      unknownEventTypes: config.unknownEvents,
    },
    ingest: { inventory, followUp },
    webhookSecret: config.webhookSecret,
  };
}

let runtime: Promise<IngestRuntime> | undefined;

/** The process-wide runtime, built on first use; a failed build is retried by the next invocation. */
export function ingestRuntime(): Promise<IngestRuntime> {
  runtime ??= buildIngestRuntime(loadConfig(process.env)).catch((error: unknown) => {
    runtime = undefined;
    throw error;
  });
  return runtime;
}
