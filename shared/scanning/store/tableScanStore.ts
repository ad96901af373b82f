import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { ValidationError } from "../../errors/index.js";
import { encodeDigestKey } from "../../inventory/keys.js";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../../inventory/storageErrors.js";
import { createTableIfMissing } from "../../inventory/tableClients.js";
import type { ScanStatusLookup } from "../../queues/followUp.js";
import { compareSeverity, type Severity, SeverityCountsSchema } from "../severity.js";
import { type ScanRecord, ScanRecordSchema } from "./scanRecord.js";

/**
 * The `scans` table. Partition = digest (a digest is scanned once, whichever repositories hold it):
 *   - row `latest`: the newest result worth showing;
 *   - rows `<inverted time>_<scanId>`: every result, newest first in a partition scan;
 *   - row `lease`: which worker is scanning the digest right now (so two workers given the same
 *     digest under two repositories do not both scan it).
 * Counts are columns (filterable); the worst findings and the per-platform counts are JSON kept
 * under the 64 KiB limit of a string property.
 */

export const LATEST_ROW = "latest";
const LEASE_ROW = "lease";
/** Table string properties hold at most 64 KiB of UTF-16, i.e. 32 Ki characters; keep a margin. */
export const MAX_JSON_PROPERTY_CHARS = 30_000;
const ENTITY_VERSION = 1;

export interface ScanListOptions {
  /** Only results with at least one finding at this severity or worse. */
  readonly minSeverity?: Severity;
  readonly registry?: string;
  readonly repository?: string;
  readonly status?: ScanRecord["status"];
}

/** Reading and writing scan results; the worker, the CLI and the inventory use it. */
export interface ScanStore {
  record(record: ScanRecord): Promise<void>;
  latest(digest: string): Promise<ScanRecord | undefined>;
  history(digest: string, limit?: number): Promise<ScanRecord[]>;
  list(options?: ScanListOptions): Promise<ScanRecord[]>;
}

/** A claim on scanning one digest, so that concurrent workers do not scan it twice. */
export interface ScanLeases {
  /** True when `owner` now holds the lease on `digest` until `now + ttlMs`. */
  claim(digest: string, owner: string, now: Date, ttlMs: number): Promise<boolean>;
  release(digest: string, owner: string): Promise<void>;
}

interface ScanEntity {
  partitionKey: string;
  rowKey: string;
  entityVersion: number;
  scanId: string;
  registry: string;
  repository: string;
  digest: string;
  status: string;
  scannedAt: string;
  reason?: string;
  failure?: string;
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  uniqueCritical: number;
  uniqueHigh: number;
  uniqueMedium: number;
  uniqueLow: number;
  uniqueUnknown: number;
  findingsTotal: number;
  uniqueTotal: number;
  fixable: number;
  unfixable: number;
  highest?: string;
  secrets: number;
  misconfigurations: number;
  osFamily?: string;
  osName?: string;
  endOfLife: boolean;
  scannerJson: string;
  worstJson: string;
  platformsJson: string;
  reportBlobsJson: string;
}

interface LeaseEntity {
  partitionKey: string;
  rowKey: string;
  owner: string;
  expiresAt: string;
}

/** Newest first within a partition: row keys sort ascending, so store (max - time). */
export function historyRowKey(scannedAt: string, scanId: string): string {
  const ms = Date.parse(scannedAt);
  if (Number.isNaN(ms)) throw new ValidationError(`'${scannedAt}' is not a time`);
  return `${String(9_999_999_999_999 - ms).padStart(13, "0")}_${scanId}`;
}

/** JSON of the longest prefix of `items` that fits in `maxChars` (the stored list is bounded, never cut mid-item). */
export function boundedJson(items: readonly unknown[], maxChars = MAX_JSON_PROPERTY_CHARS): string {
  let count = items.length;
  let text = JSON.stringify(items);
  while (text.length > maxChars && count > 0) {
    count -= Math.max(1, Math.ceil((count * (text.length - maxChars)) / text.length));
    text = JSON.stringify(items.slice(0, Math.max(0, count)));
  }
  return text;
}

function toEntity(record: ScanRecord, rowKey: string): ScanEntity {
  const checked = ScanRecordSchema.parse(record);
  return {
    partitionKey: encodeDigestKey(checked.digest),
    rowKey,
    entityVersion: ENTITY_VERSION,
    scanId: checked.scanId,
    registry: checked.registry,
    repository: checked.repository,
    digest: checked.digest,
    status: checked.status,
    scannedAt: checked.scannedAt,
    ...(checked.reason === undefined ? {} : { reason: checked.reason.slice(0, 4000) }),
    ...(checked.failure === undefined ? {} : { failure: checked.failure }),
    critical: checked.findings.CRITICAL,
    high: checked.findings.HIGH,
    medium: checked.findings.MEDIUM,
    low: checked.findings.LOW,
    unknown: checked.findings.UNKNOWN,
    uniqueCritical: checked.unique.CRITICAL,
    uniqueHigh: checked.unique.HIGH,
    uniqueMedium: checked.unique.MEDIUM,
    uniqueLow: checked.unique.LOW,
    uniqueUnknown: checked.unique.UNKNOWN,
    findingsTotal: checked.findingsTotal,
    uniqueTotal: checked.uniqueTotal,
    fixable: checked.fixable,
    unfixable: checked.unfixable,
    ...(checked.highest === null ? {} : { highest: checked.highest }),
    secrets: checked.secrets,
    misconfigurations: checked.misconfigurations,
    ...(checked.os === null ? {} : { osFamily: checked.os.family }),
    ...(checked.os?.name === undefined ? {} : { osName: checked.os.name }),
    endOfLife: checked.endOfLife,
    scannerJson: JSON.stringify(checked.scanner),
    worstJson: boundedJson(checked.worst),
    platformsJson: boundedJson(checked.platforms),
    reportBlobsJson: boundedJson(checked.reportBlobs),
  };
}

function fromEntity(entity: ScanEntity): ScanRecord {
  const counts = (prefix: "" | "unique") => {
    const key = (name: string) =>
      (prefix === "" ? name : `unique${name[0]?.toUpperCase()}${name.slice(1)}`) as keyof ScanEntity;
    return SeverityCountsSchema.parse({
      CRITICAL: entity[key("critical")],
      HIGH: entity[key("high")],
      MEDIUM: entity[key("medium")],
      LOW: entity[key("low")],
      UNKNOWN: entity[key("unknown")],
    });
  };
  return ScanRecordSchema.parse({
    scanId: entity.scanId,
    registry: entity.registry,
    repository: entity.repository,
    digest: entity.digest,
    status: entity.status,
    scannedAt: entity.scannedAt,
    ...(entity.reason === undefined ? {} : { reason: entity.reason }),
    ...(entity.failure === undefined ? {} : { failure: entity.failure }),
    findings: counts(""),
    findingsTotal: entity.findingsTotal,
    unique: counts("unique"),
    uniqueTotal: entity.uniqueTotal,
    fixable: entity.fixable,
    unfixable: entity.unfixable,
    highest: entity.highest ?? null,
    secrets: entity.secrets,
    misconfigurations: entity.misconfigurations,
    os:
      entity.osFamily === undefined
        ? null
        : {
            family: entity.osFamily,
            ...(entity.osName === undefined ? {} : { name: entity.osName }),
            endOfLife: entity.endOfLife,
          },
    endOfLife: entity.endOfLife,
    scanner: JSON.parse(entity.scannerJson),
    worst: JSON.parse(entity.worstJson),
    platforms: JSON.parse(entity.platformsJson),
    reportBlobs: JSON.parse(entity.reportBlobsJson),
  });
}

/** Does the newer result deserve the `latest` row over the existing one? */
function replacesLatest(existing: ScanRecord | undefined, next: ScanRecord): boolean {
  if (existing === undefined) return true;
  if (Date.parse(existing.scannedAt) > Date.parse(next.scannedAt)) return false;
  // A failed rescan keeps the last good result visible; the failure is in the history.
  return !(next.status === "failed" && existing.status === "completed");
}

function atLeast(record: ScanRecord, minimum: Severity): boolean {
  return record.highest !== null && compareSeverity(record.highest, minimum) >= 0;
}

export class TableScanStore implements ScanStore, ScanLeases, ScanStatusLookup {
  readonly #client: TableClient;
  readonly #observer: StorageCallObserver | undefined;

  constructor(client: TableClient, options: { onStorageCall?: StorageCallObserver } = {}) {
    this.#client = client;
    this.#observer = options.onStorageCall;
  }

  async ensureTable(): Promise<void> {
    await this.#call(`create table ${this.#client.tableName}`, () => createTableIfMissing(this.#client));
  }

  async record(record: ScanRecord): Promise<void> {
    const existing = await this.latest(record.digest);
    const actions: TransactionAction[] = [
      ["upsert", { ...toEntity(record, historyRowKey(record.scannedAt, record.scanId)) }, "Replace"],
    ];
    if (replacesLatest(existing, record)) {
      actions.push(["upsert", { ...toEntity(record, LATEST_ROW) }, "Replace"]);
    }
    await this.#call("record scan", () => this.#client.submitTransaction(actions));
  }

  async latest(digest: string): Promise<ScanRecord | undefined> {
    return this.#call("read latest scan", async () => {
      try {
        return fromEntity(await this.#client.getEntity<ScanEntity>(encodeDigestKey(digest), LATEST_ROW));
      } catch (error) {
        if (storageStatus(error) === 404) return undefined;
        throw error;
      }
    });
  }

  async history(digest: string, limit = 50): Promise<ScanRecord[]> {
    const partition = encodeDigestKey(digest);
    const filter = odata`PartitionKey eq ${partition} and RowKey lt ${LATEST_ROW} and RowKey ne ${LEASE_ROW}`;
    return this.#call("read scan history", async () => {
      const out: ScanRecord[] = [];
      for await (const entity of this.#client.listEntities<ScanEntity>({ queryOptions: { filter } })) {
        out.push(fromEntity(entity));
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  async list(options: ScanListOptions = {}): Promise<ScanRecord[]> {
    const filters = [odata`RowKey eq ${LATEST_ROW}`];
    if (options.registry !== undefined) filters.push(odata`registry eq ${options.registry.toLowerCase()}`);
    if (options.repository !== undefined) filters.push(odata`repository eq ${options.repository}`);
    if (options.status !== undefined) filters.push(odata`status eq ${options.status}`);
    return this.#call("list scans", async () => {
      const out: ScanRecord[] = [];
      const pages = this.#client.listEntities<ScanEntity>({
        queryOptions: { filter: filters.join(" and ") },
      });
      for await (const entity of pages) {
        const record = fromEntity(entity);
        if (options.minSeverity === undefined || atLeast(record, options.minSeverity)) out.push(record);
      }
      return out;
    });
  }

  /** The ScanStatusLookup port of the inventory: when the digest was last scanned to completion. */
  async lastScannedAt(_registry: string, _repository: string, digest: string): Promise<string | undefined> {
    const latest = await this.latest(digest);
    return latest?.status === "completed" ? latest.scannedAt : undefined;
  }

  async claim(digest: string, owner: string, now: Date, ttlMs: number): Promise<boolean> {
    const partitionKey = encodeDigestKey(digest);
    const lease: LeaseEntity = {
      partitionKey,
      rowKey: LEASE_ROW,
      owner,
      expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    };
    return this.#call("claim scan lease", async () => {
      let current: (LeaseEntity & { etag: string }) | undefined;
      try {
        current = await this.#client.getEntity<LeaseEntity>(partitionKey, LEASE_ROW);
      } catch (error) {
        if (storageStatus(error) !== 404) throw error;
      }
      try {
        if (current === undefined) {
          await this.#client.createEntity(lease);
          return true;
        }
        if (current.owner !== owner && Date.parse(current.expiresAt) > now.getTime()) return false;
        await this.#client.updateEntity(lease, "Replace", { etag: current.etag });
        return true;
      } catch (error) {
        const status = storageStatus(error);
        if (status === 409 || status === 412) return false;
        throw error;
      }
    });
  }

  async release(digest: string, owner: string): Promise<void> {
    const partitionKey = encodeDigestKey(digest);
    await this.#call("release scan lease", async () => {
      try {
        const current = await this.#client.getEntity<LeaseEntity>(partitionKey, LEASE_ROW);
        if (current.owner !== owner) return;
        await this.#client.deleteEntity(partitionKey, LEASE_ROW, { etag: current.etag });
      } catch (error) {
        const status = storageStatus(error);
        if (status === 404 || status === 412) return;
        throw error;
      }
    });
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await observed(this.#observer, operation, call);
    } catch (error) {
      throw translateStorageError(error, operation);
    }
  }
}
