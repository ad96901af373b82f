import type { StewardConfig } from "../config/config.js";
import { QUEUE_NAMES, TABLE_NAMES } from "../config/settings.js";
import { UnavailableError } from "../errors/index.js";
import type { ParseRegistryEventsOptions } from "../events/parse.js";
import type { IngestDependencies } from "../ingest/ingestEvents.js";
import type { ManifestEnricher } from "../inventory/ports.js";
import { createTableClient } from "../inventory/tableClients.js";
import { TableInventoryStore } from "../inventory/tableInventoryStore.js";
import { TableCoordinationMarks } from "../queues/coordinationMarks.js";
import { FollowUpScheduler, type ScanStatusLookup } from "../queues/followUp.js";
import { RetentionRequestSchema, ScanRequestSchema } from "../queues/messages.js";
import { createQueueClient } from "../queues/queueClients.js";
import { StorageWorkQueue } from "../queues/workQueue.js";
import type { RetryPolicy } from "../registry/reliability.js";
import { TableScanStore } from "../scanning/store/tableScanStore.js";
import {
  configuredRegistryOpener,
  type RegistryAccessOverrides,
  type RegistryOpener,
  RegistryPool,
} from "./registries.js";
import { RegistryManifestEnricher } from "./registryEnricher.js";

/**
 * The ingest path's adapters, built from validated configuration: the inventory (enriched from the
 * registry on push), the follow-up scheduler (scan requests skip digests scanned within
 * ACR_STEWARD_SCAN_FRESHNESS, retention requests are debounced) and the parser's options. The
 * functions build it once per cold start (functions/composition.ts); `acr-steward replay` per run.
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
  /** Reads manifests on push; default: `RegistryManifestEnricher` over the allow-listed registries. */
  readonly enricher?: ManifestEnricher;
  /** Opens registries for the default enricher (tests: the emulator); the allow-list is checked first. */
  readonly openRegistry?: RegistryOpener;
  /** Changes to how the default opener reaches registries (tests: the emulator's CA and a fake token). */
  readonly registryAccess?: RegistryAccessOverrides;
  /** When a digest was last scanned; default: the `scans` table. */
  readonly scanStatus?: ScanStatusLookup;
  /** Table and queue names (tests use their own). */
  readonly names?: {
    readonly tables?: Partial<Record<keyof typeof TABLE_NAMES, string>>;
    readonly queues?: Partial<Record<keyof typeof QUEUE_NAMES, string>>;
  };
}

/**
 * Retries of a registry read made while an event is being recorded. Short on purpose: an unreadable
 * registry must not hold up the inventory, and a row that could not be enriched is marked for the
 * sweep, which reads it later with the full retry budget.
 */
export const ENRICHMENT_RETRY_POLICY: Partial<RetryPolicy> = {
  maxAttempts: 3,
  maxDelayMs: 2_000,
  maxRetryAfterMs: 5_000,
  attemptTimeoutMs: 10_000,
};

/** For runs that must not read any registry: every push is recorded from the event and marked for a sweep. */
export const RECORD_FROM_EVENT_ONLY: ManifestEnricher = {
  async describe() {
    throw new UnavailableError("this run does not read the registry; a sweep adds the manifest's details");
  },
};

export async function buildIngestRuntime(
  config: StewardConfig,
  parts: IngestRuntimeParts = {},
): Promise<IngestRuntime> {
  const tables = { ...TABLE_NAMES, ...parts.names?.tables };
  const queues = { ...QUEUE_NAMES, ...parts.names?.queues };
  const enricher = parts.enricher ?? defaultEnricher(config, parts);
  const inventory = new TableInventoryStore(
    {
      manifests: createTableClient(config.storage, tables.manifests),
      tags: createTableClient(config.storage, tables.tags),
      audit: createTableClient(config.storage, tables.audit),
    },
    { enricher },
  );
  const marks = new TableCoordinationMarks(createTableClient(config.storage, tables.coordination));
  const scans = new TableScanStore(createTableClient(config.storage, tables.scans));
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
    parts.scanStatus === undefined ? scans.ensureTable() : undefined,
    scanQueue.ensureQueue(),
    retentionQueue.ensureQueue(),
  ]);

  const followUp = new FollowUpScheduler({
    marks,
    scanStatus: parts.scanStatus ?? scans,
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

function defaultEnricher(config: StewardConfig, parts: IngestRuntimeParts): ManifestEnricher {
  const open =
    parts.openRegistry ??
    configuredRegistryOpener("acr-steward ingest", {
      ...parts.registryAccess,
      retryPolicy: { ...ENRICHMENT_RETRY_POLICY, ...parts.registryAccess?.retryPolicy },
    });
  const registries = new RegistryPool(config, open);
  return new RegistryManifestEnricher((loginServer) => registries.get(loginServer));
}
