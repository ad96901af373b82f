import type { StorageConnection } from "../config/config.js";
import { QUEUE_NAMES, TABLE_NAMES } from "../config/settings.js";
import type { StorageCallObserver } from "../inventory/storageErrors.js";
import { createTableClient } from "../inventory/tableClients.js";
import { TableInventoryStore } from "../inventory/tableInventoryStore.js";
import { TableCoordinationMarks } from "../queues/coordinationMarks.js";
import { FollowUpScheduler } from "../queues/followUp.js";
import { ReconcileRequestSchema, RetentionRequestSchema, ScanRequestSchema } from "../queues/messages.js";
import { createQueueClient } from "../queues/queueClients.js";
import { StorageWorkQueue } from "../queues/workQueue.js";
import type { Registry } from "../registry/registry.js";
import { TableScanStore } from "../scanning/store/tableScanStore.js";
import { ListingEnricher } from "./describe.js";
import { TableSweepProgress } from "./progress.js";
import { TableTagRemovals } from "./tagRemovals.js";

/**
 * The storage side of sweeps, wired from a storage connection: the inventory (with an enricher that
 * reads the listing first), the coordination marks and sweep progress, the scan, retention and
 * reconcile queues, and the scans table for freshness. Functions, the CLI and benchmarks share it.
 */

export interface SweepStorageOptions {
  readonly storage: StorageConnection;
  /** The open registry for a login server, for digests the listing cannot describe. */
  readonly registries: (loginServer: string) => Registry | undefined;
  readonly scanFreshnessMs: number;
  readonly retentionDebounceMs: number;
  /** Table and queue names (tests use their own). */
  readonly names?: {
    readonly tables?: Partial<Record<keyof typeof TABLE_NAMES, string>>;
    readonly queues?: Partial<Record<keyof typeof QUEUE_NAMES, string>>;
  };
  /** Told about every storage call (benchmarks count inventory writes with it). */
  readonly onStorageCall?: StorageCallObserver;
}

export interface SweepStorage {
  readonly inventory: TableInventoryStore;
  readonly enricher: ListingEnricher;
  readonly tagRemovals: TableTagRemovals;
  readonly followUp: FollowUpScheduler;
  readonly progress: TableSweepProgress;
  readonly scans: TableScanStore;
  readonly scanQueue: StorageWorkQueue<typeof ScanRequestSchema>;
  readonly retentionQueue: StorageWorkQueue<typeof RetentionRequestSchema>;
  readonly reconcileQueue: StorageWorkQueue<typeof ReconcileRequestSchema>;
}

export async function openSweepStorage(options: SweepStorageOptions): Promise<SweepStorage> {
  const tables = { ...TABLE_NAMES, ...options.names?.tables };
  const queues = { ...QUEUE_NAMES, ...options.names?.queues };
  const observer = options.onStorageCall === undefined ? {} : { onStorageCall: options.onStorageCall };
  const table = (name: string) => createTableClient(options.storage, name);
  const queue = (name: string) => createQueueClient(options.storage, name);

  const enricher = new ListingEnricher(options.registries);
  const inventory = new TableInventoryStore(
    { manifests: table(tables.manifests), tags: table(tables.tags), audit: table(tables.audit) },
    { enricher, ...observer },
  );
  const coordination = table(tables.coordination);
  const marks = new TableCoordinationMarks(coordination, observer);
  const progress = new TableSweepProgress(coordination, observer);
  const scans = new TableScanStore(table(tables.scans), observer);
  const scanQueue = new StorageWorkQueue(queue(queues.scanRequests), ScanRequestSchema, observer);
  const retentionQueue = new StorageWorkQueue(
    queue(queues.retentionRequests),
    RetentionRequestSchema,
    observer,
  );
  const reconcileQueue = new StorageWorkQueue(
    queue(queues.reconcileRequests),
    ReconcileRequestSchema,
    observer,
  );
  // Infrastructure creates these in Azure; creating them here keeps local runs and tests self-contained.
  await Promise.all([
    inventory.ensureTables(),
    progress.ensureTable(),
    scans.ensureTable(),
    scanQueue.ensureQueue(),
    retentionQueue.ensureQueue(),
    reconcileQueue.ensureQueue(),
  ]);
  const followUp = new FollowUpScheduler({
    marks,
    scanStatus: scans,
    scanQueue,
    retentionQueue,
    scanFreshnessMs: options.scanFreshnessMs,
    retentionDebounceMs: options.retentionDebounceMs,
  });
  return {
    inventory,
    enricher,
    tagRemovals: new TableTagRemovals(table(tables.tags), observer),
    followUp,
    progress,
    scans,
    scanQueue,
    retentionQueue,
    reconcileQueue,
  };
}
