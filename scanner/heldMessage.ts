import { ensureError } from "../shared/errors/index.js";
import type { ReceivedMessage, ScanRequestQueue } from "../shared/scanning/store/scanRequestQueue.js";
import type { WorkerLogger } from "./logger.js";

/**
 * A received message the worker still owns. While held it is kept invisible by a periodic visibility
 * update; every update returns a new pop receipt, so all operations on the message run one after the
 * other (a delete never races a renewal holding the old receipt).
 */
export class HeldMessage {
  readonly message: ReceivedMessage;
  readonly #queue: ScanRequestQueue;
  readonly #logger: WorkerLogger;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** Extra work on each renewal (the worker renews its digest lease with it). */
  onRenew: (() => Promise<void>) | undefined;
  /** Set when a renewal failed: the message may be visible again and taken by another worker. */
  lost = false;

  constructor(queue: ScanRequestQueue, message: ReceivedMessage, logger: WorkerLogger) {
    this.#queue = queue;
    this.message = message;
    this.#logger = logger;
  }

  get dequeueCount(): number {
    return this.message.dequeueCount;
  }

  keepInvisible(visibilitySeconds: number, everyMs: number): void {
    this.stopKeepAlive();
    this.#timer = setInterval(() => {
      void this.#serial(async () => {
        await this.#queue.setVisibility(this.message, visibilitySeconds);
        await this.onRenew?.();
      }).catch((error: unknown) => {
        this.lost = true;
        this.#logger.warn("could not keep the message invisible", {
          messageId: this.message.messageId,
          error: ensureError(error).message,
        });
      });
    }, everyMs);
    this.#timer.unref();
  }

  stopKeepAlive(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Lets the message reappear after `seconds` (0: now) and stops holding it. */
  async release(seconds: number): Promise<void> {
    this.stopKeepAlive();
    try {
      await this.#serial(() => this.#queue.setVisibility(this.message, seconds));
    } catch (error) {
      // Not ours any more (its lease ran out): it reappears on its own anyway.
      this.#logger.warn("could not set the message's visibility", {
        messageId: this.message.messageId,
        error: ensureError(error).message,
      });
    }
  }

  /** Deletes the message; false when it was no longer ours (another worker may repeat the work). */
  async delete(): Promise<boolean> {
    this.stopKeepAlive();
    const deleted = await this.#serial(() => this.#queue.delete(this.message));
    if (!deleted) {
      this.#logger.warn("the message was no longer ours when we deleted it", {
        messageId: this.message.messageId,
      });
    }
    return deleted;
  }

  /** Waits for whatever renewal is in flight (used before shutting down). */
  async settle(): Promise<void> {
    this.stopKeepAlive();
    await this.#chain.catch(() => {});
  }

  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(operation, operation);
    this.#chain = next.catch(() => {});
    return next;
  }
}
