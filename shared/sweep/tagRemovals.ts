import type { TableClient } from "@azure/data-tables";
import { encodeRepositoryKey, encodeTagKey } from "../inventory/keys.js";
import { eventTimeOrder, mergeTagRemoval, type Stamp } from "../inventory/model.js";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../inventory/storageErrors.js";
import { fromTagEntity, type TagEntity, toTagEntity } from "../inventory/tableInventoryStore.js";
import type { TagRemoval } from "./observe.js";

/**
 * Untagging raises no registry event, so only a sweep learns that a tag is gone. A removal is
 * recorded in the tag's row as a tag tombstone (the observation's time and id), so that a delayed
 * push event from before the observation cannot bring the tag back, while a newer push does. It
 * applies only while the row still names the digest the sweep saw it on and was set before the
 * listing started (a newer push stands), and is written with the ETag the row was read with.
 */
export interface TagRemovals {
  /** @returns how many tags were removed. */
  remove(
    registry: string,
    repository: string,
    removals: readonly TagRemoval[],
    observedAt: Date,
  ): Promise<number>;
}

/** A row changed between our read and our write (a concurrent event): read and merge again. */
const MAX_ATTEMPTS = 5;

export class TableTagRemovals implements TagRemovals {
  readonly #tags: TableClient;
  readonly #observer: StorageCallObserver | undefined;

  /** @param tags the inventory's `tags` table. */
  constructor(tags: TableClient, options: { onStorageCall?: StorageCallObserver } = {}) {
    this.#tags = tags;
    this.#observer = options.onStorageCall;
  }

  async remove(
    registry: string,
    repository: string,
    removals: readonly TagRemoval[],
    observedAt: Date,
  ): Promise<number> {
    const partitionKey = encodeRepositoryKey(registry, repository);
    const at = observedAt.toISOString();
    const order = eventTimeOrder(at);
    let removed = 0;
    for (const removal of removals) {
      const stamp: Stamp = { at, order, eventId: removal.eventId };
      if (await this.#removeOne(partitionKey, encodeTagKey(removal.tag), removal.digest, stamp)) removed += 1;
    }
    return removed;
  }

  async #removeOne(partitionKey: string, rowKey: string, digest: string, stamp: Stamp): Promise<boolean> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const row = await this.#call("read tag", async () => {
        try {
          return await this.#tags.getEntity<TagEntity>(partitionKey, rowKey);
        } catch (error) {
          if (storageStatus(error) === 404) return undefined;
          throw error;
        }
      });
      if (row === undefined) return false;
      const next = mergeTagRemoval(fromTagEntity(row), digest, stamp);
      if (next === undefined) return false;
      const written = await this.#call("remove tag", async () => {
        try {
          await this.#tags.updateEntity({ partitionKey, rowKey, ...toTagEntity(next) }, "Replace", {
            etag: row.etag,
          });
          return true;
        } catch (error) {
          const status = storageStatus(error);
          // Gone (nothing to remove) or changed since read (merge again on a fresh read).
          if (status === 404) return false;
          if (status === 412) return undefined;
          throw error;
        }
      });
      if (written !== undefined) return written;
    }
    // Still racing after several rounds: the next sweep observes again.
    return false;
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await observed(this.#observer, operation, call);
    } catch (error) {
      throw translateStorageError(error, operation);
    }
  }
}
