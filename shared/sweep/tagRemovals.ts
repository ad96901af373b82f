import type { TableClient } from "@azure/data-tables";
import { encodeRepositoryKey, encodeTagKey } from "../inventory/keys.js";
import { eventTimeOrder } from "../inventory/model.js";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../inventory/storageErrors.js";
import type { TagRemoval } from "./observe.js";

/**
 * Untagging raises no registry event, so only a sweep learns that a tag is gone. The inventory's
 * tag rows keep the push that set them; a removal deletes the row only while it still names the
 * digest the sweep saw it on and was set before the listing started (a newer push stands), and
 * only with the ETag it was read with.
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

interface TagRow {
  digest: string;
  push: string;
}

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
    const observedOrder = eventTimeOrder(observedAt.toISOString());
    let removed = 0;
    for (const removal of removals) {
      const rowKey = encodeTagKey(removal.tag);
      const row = await this.#call("read tag", async () => {
        try {
          return await this.#tags.getEntity<TagRow>(partitionKey, rowKey);
        } catch (error) {
          if (storageStatus(error) === 404) return undefined;
          throw error;
        }
      });
      if (row === undefined || row.digest !== removal.digest) continue;
      const pushOrder = (JSON.parse(row.push) as { order?: string }).order ?? "";
      if (pushOrder >= observedOrder) continue;
      const gone = await this.#call("remove tag", async () => {
        try {
          await this.#tags.deleteEntity(partitionKey, rowKey, { etag: row.etag });
          return true;
        } catch (error) {
          // Changed since read (a push moved it) or already gone: the newer state stands.
          const status = storageStatus(error);
          if (status === 404 || status === 412) return false;
          throw error;
        }
      });
      if (gone) removed += 1;
    }
    return removed;
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await observed(this.#observer, operation, call);
    } catch (error) {
      throw translateStorageError(error, operation);
    }
  }
}
