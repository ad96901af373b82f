import type { TableClient } from "@azure/data-tables";
import { encodeRepositoryKey } from "../../inventory/keys.js";
import { storageStatus, translateStorageError } from "../../inventory/storageErrors.js";
import { createTableIfMissing } from "../../inventory/tableClients.js";
import type { Clock, Lease, RepositoryLeases } from "../ports.js";
import { systemClock } from "../ports.js";

/**
 * Repository leases in the `coordination` table: one row per repository
 * (PartitionKey `retention-lease`, RowKey = encoded registry/repository) holding the holder and an
 * expiry. Taking a lease is an insert, or a replace of an expired row guarded by its ETag, so of two
 * workers racing for one repository exactly one wins; the other is told "busy". A holder that dies
 * leaves a row that simply expires. Releasing deletes the row only if it is still ours (ETag).
 */
export const LEASE_PARTITION = "retention-lease";

interface LeaseEntity {
  holder: string;
  acquiredAt: string;
  expiresAt: string;
}

export class TableRepositoryLeases implements RepositoryLeases {
  readonly #client: TableClient;
  readonly #clock: Clock;

  constructor(client: TableClient, options: { clock?: Clock } = {}) {
    this.#client = client;
    this.#clock = options.clock ?? systemClock;
  }

  async ensureTable(): Promise<void> {
    await createTableIfMissing(this.#client).catch((error: unknown) => {
      throw translateStorageError(error, "create table coordination");
    });
  }

  async acquire(
    registry: string,
    repository: string,
    holder: string,
    ttlMs: number,
  ): Promise<Lease | undefined> {
    const rowKey = encodeRepositoryKey(registry, repository);
    const now = this.#clock.now();
    const entity = {
      partitionKey: LEASE_PARTITION,
      rowKey,
      holder,
      acquiredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    };
    let etag: string | undefined;
    try {
      const existing = await this.#read(rowKey);
      if (existing === undefined) {
        etag = (await this.#client.createEntity(entity)).etag;
      } else {
        if (Date.parse(existing.expiresAt) > now.getTime()) return undefined;
        etag = (await this.#client.updateEntity(entity, "Replace", { etag: existing.etag })).etag;
      }
    } catch (error) {
      const status = storageStatus(error);
      // Someone else created or renewed the row between our read and our write.
      if (status === 409 || status === 412) return undefined;
      throw translateStorageError(error, "take retention lease");
    }
    let version = etag;
    return {
      release: async () => {
        if (version === undefined) return;
        try {
          await this.#client.deleteEntity(LEASE_PARTITION, rowKey, { etag: version });
        } catch (error) {
          const status = storageStatus(error);
          if (status !== 404 && status !== 412) throw translateStorageError(error, "release retention lease");
        } finally {
          version = undefined;
        }
      },
    };
  }

  async #read(rowKey: string): Promise<(LeaseEntity & { etag: string }) | undefined> {
    try {
      const entity = await this.#client.getEntity<LeaseEntity>(LEASE_PARTITION, rowKey);
      return {
        holder: entity.holder,
        acquiredAt: entity.acquiredAt,
        expiresAt: entity.expiresAt,
        etag: entity.etag,
      };
    } catch (error) {
      if (storageStatus(error) === 404) return undefined;
      throw error;
    }
  }
}
