import type { TableClient } from "@azure/data-tables";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../inventory/storageErrors.js";
import { createTableIfMissing } from "../inventory/tableClients.js";

/**
 * Marks in the `coordination` table that keep follow-up work single: "a scan of this digest was
 * queued at T by event E", "a retention request for this repository fires at T".
 */
export interface CoordinationMark {
  /** The event whose follow-up sent the work. */
  readonly claimedBy: string;
  /** When the work was queued (ISO 8601). */
  readonly queuedAt: string;
  /** When the queued work becomes visible (debounced requests), ISO 8601. */
  readonly dueAt: string;
}

export interface MarkKey {
  readonly partition: string;
  readonly row: string;
}

export interface VersionedMark {
  readonly mark: CoordinationMark;
  readonly version: string;
}

export interface CoordinationMarks {
  get(key: MarkKey): Promise<VersionedMark | undefined>;
  /**
   * Writes the mark if nobody changed it since `version` was read (or, without a version, if it does
   * not exist yet). @returns the new version, or undefined when another writer got there first.
   */
  put(key: MarkKey, mark: CoordinationMark, version: string | undefined): Promise<string | undefined>;
}

interface MarkEntity {
  claimedBy: string;
  queuedAt: string;
  dueAt: string;
}

export class TableCoordinationMarks implements CoordinationMarks {
  readonly #client: TableClient;
  readonly #observer: StorageCallObserver | undefined;

  constructor(client: TableClient, options: { onStorageCall?: StorageCallObserver } = {}) {
    this.#client = client;
    this.#observer = options.onStorageCall;
  }

  async ensureTable(): Promise<void> {
    await this.#call("create table coordination", () => createTableIfMissing(this.#client));
  }

  async get(key: MarkKey): Promise<VersionedMark | undefined> {
    return this.#call("read mark", async () => {
      try {
        const entity = await this.#client.getEntity<MarkEntity>(key.partition, key.row);
        return {
          mark: {
            claimedBy: entity.claimedBy,
            queuedAt: entity.queuedAt,
            dueAt: entity.dueAt,
          },
          version: entity.etag,
        };
      } catch (error) {
        if (storageStatus(error) === 404) return undefined;
        throw error;
      }
    });
  }

  async put(key: MarkKey, mark: CoordinationMark, version: string | undefined): Promise<string | undefined> {
    const entity = {
      partitionKey: key.partition,
      rowKey: key.row,
      claimedBy: mark.claimedBy,
      queuedAt: mark.queuedAt,
      dueAt: mark.dueAt,
    };
    return this.#call("write mark", async () => {
      try {
        const response =
          version === undefined
            ? await this.#client.createEntity(entity)
            : await this.#client.updateEntity(entity, "Replace", { etag: version });
        return response.etag ?? "";
      } catch (error) {
        const status = storageStatus(error);
        if (status === 409 || status === 412) return undefined;
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
