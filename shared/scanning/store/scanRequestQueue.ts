import type { QueueClient } from "@azure/storage-queue";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../../inventory/storageErrors.js";
import { decodePoisonRecord, encodePoisonRecord, type PoisonRecord } from "./poisonRecord.js";

/**
 * The scan worker's side of `scan-requests` and its poison queue. A received message is held by its
 * pop receipt, which changes on every visibility update: the current one is kept on the message
 * object, so the keep-alive, a back-off and the final delete always use the newest receipt.
 */

export interface ReceivedMessage {
  readonly messageId: string;
  /** Changes with every visibility update. */
  popReceipt: string;
  readonly dequeueCount: number;
  /** The body exactly as stored (base64 JSON for our producers). */
  readonly text: string;
}

export interface ScanRequestQueue {
  readonly name: string;
  readonly poisonName: string;
  receive(count: number, visibilityTimeoutSeconds: number): Promise<ReceivedMessage[]>;
  /** Sets when the message reappears (0 = now); updates `message.popReceipt`. */
  setVisibility(message: ReceivedMessage, visibilityTimeoutSeconds: number): Promise<void>;
  /** False when the message was no longer ours (its lease ran out and someone else received it). */
  delete(message: ReceivedMessage): Promise<boolean>;
  poison(record: PoisonRecord): Promise<void>;
  /** Whether any message is visible right now. */
  hasVisibleMessages(): Promise<boolean>;
}

export interface PoisonEntry {
  readonly messageId: string;
  readonly insertedOn: Date | undefined;
  readonly record: PoisonRecord | undefined;
  /** Set when the message is not a poison record of ours (its text, shortened). */
  readonly unreadable?: string;
}

/** Storage queues accept at most 32 messages per receive and visibility below 7 days. */
export const MAX_RECEIVE_BATCH = 32;
export const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 1;

export class StorageScanRequestQueue implements ScanRequestQueue {
  readonly #requests: QueueClient;
  readonly #poison: QueueClient;
  readonly #observer: StorageCallObserver | undefined;

  constructor(
    requests: QueueClient,
    poison: QueueClient,
    options: { onStorageCall?: StorageCallObserver } = {},
  ) {
    this.#requests = requests;
    this.#poison = poison;
    this.#observer = options.onStorageCall;
  }

  get name(): string {
    return this.#requests.name;
  }

  get poisonName(): string {
    return this.#poison.name;
  }

  async ensureQueues(): Promise<void> {
    await this.#call("create queues", async () => {
      await this.#requests.createIfNotExists();
      await this.#poison.createIfNotExists();
    });
  }

  async receive(count: number, visibilityTimeoutSeconds: number): Promise<ReceivedMessage[]> {
    const response = await this.#call(`receive from ${this.name}`, () =>
      this.#requests.receiveMessages({
        numberOfMessages: Math.min(Math.max(1, Math.floor(count)), MAX_RECEIVE_BATCH),
        visibilityTimeout: clampVisibility(visibilityTimeoutSeconds),
      }),
    );
    return response.receivedMessageItems.map((item) => ({
      messageId: item.messageId,
      popReceipt: item.popReceipt,
      dequeueCount: item.dequeueCount,
      text: item.messageText,
    }));
  }

  async setVisibility(message: ReceivedMessage, visibilityTimeoutSeconds: number): Promise<void> {
    const response = await this.#call(`update message in ${this.name}`, () =>
      this.#requests.updateMessage(
        message.messageId,
        message.popReceipt,
        message.text,
        clampVisibility(visibilityTimeoutSeconds),
      ),
    );
    if (response.popReceipt !== undefined) message.popReceipt = response.popReceipt;
  }

  async delete(message: ReceivedMessage): Promise<boolean> {
    try {
      await observed(this.#observer, `delete from ${this.name}`, () =>
        this.#requests.deleteMessage(message.messageId, message.popReceipt),
      );
      return true;
    } catch (error) {
      // 404: gone or received by someone else since (the receipt no longer matches).
      if (storageStatus(error) === 404) return false;
      throw translateStorageError(error, `delete from ${this.name}`);
    }
  }

  async poison(record: PoisonRecord): Promise<void> {
    const text = encodePoisonRecord(record);
    // Poison messages never expire: a person has to look at them (-1 = no time-to-live).
    await this.#call(`send to ${this.poisonName}`, () =>
      this.#poison.sendMessage(text, { messageTimeToLive: -1 }),
    );
  }

  async hasVisibleMessages(): Promise<boolean> {
    const response = await this.#call(`peek ${this.name}`, () =>
      this.#requests.peekMessages({ numberOfMessages: 1 }),
    );
    return response.peekedMessageItems.length > 0;
  }

  /** The poison queue's messages (peeked: they stay), newest last; at most 32 per call of the service. */
  async peekPoison(limit = MAX_RECEIVE_BATCH): Promise<PoisonEntry[]> {
    const response = await this.#call(`peek ${this.poisonName}`, () =>
      this.#poison.peekMessages({ numberOfMessages: Math.min(Math.max(1, limit), MAX_RECEIVE_BATCH) }),
    );
    return response.peekedMessageItems.map((item) => {
      try {
        return {
          messageId: item.messageId,
          insertedOn: item.insertedOn,
          record: decodePoisonRecord(item.messageText),
        };
      } catch {
        return {
          messageId: item.messageId,
          insertedOn: item.insertedOn,
          record: undefined,
          unreadable: item.messageText.slice(0, 200),
        };
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

function clampVisibility(seconds: number): number {
  return Math.min(Math.max(0, Math.ceil(seconds)), MAX_VISIBILITY_SECONDS);
}
