import type { QueueClient } from "@azure/storage-queue";
import type { z } from "zod";
import { observed, type StorageCallObserver, translateStorageError } from "../inventory/storageErrors.js";
import { encodeQueueMessage } from "./codec.js";

/** A queue of follow-up work. Messages are validated before they leave. */
export interface WorkQueue<T> {
  /** @param options.visibilityDelayMs hide the message this long (debounce windows). */
  send(message: T, options?: { visibilityDelayMs?: number }): Promise<void>;
}

/** Storage queues refuse visibility timeouts of 7 days or more. */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 1;

export class StorageWorkQueue<S extends z.ZodType> implements WorkQueue<z.input<S>> {
  readonly #client: QueueClient;
  readonly #schema: S;
  readonly #observer: StorageCallObserver | undefined;

  constructor(client: QueueClient, schema: S, options: { onStorageCall?: StorageCallObserver } = {}) {
    this.#client = client;
    this.#schema = schema;
    this.#observer = options.onStorageCall;
  }

  get name(): string {
    return this.#client.name;
  }

  async ensureQueue(): Promise<void> {
    await this.#call("create queue", () => this.#client.createIfNotExists());
  }

  async send(message: z.input<S>, options: { visibilityDelayMs?: number } = {}): Promise<void> {
    const text = encodeQueueMessage(this.#schema, message);
    const delaySeconds = Math.min(Math.ceil((options.visibilityDelayMs ?? 0) / 1000), MAX_VISIBILITY_SECONDS);
    await this.#call(`send to ${this.#client.name}`, () =>
      this.#client.sendMessage(text, delaySeconds > 0 ? { visibilityTimeout: delaySeconds } : {}),
    );
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await observed(this.#observer, operation, call);
    } catch (error) {
      throw translateStorageError(error, operation);
    }
  }
}
