/**
 * Bounded, adaptive concurrency for one registry (AIMD, like TCP congestion control): the limit grows
 * by one after a full window of successful requests and halves when the registry throttles. A
 * `Retry-After` pauses every caller of this registry, not just the one that was told, because ACR's
 * token bucket is per identity: the other requests would be throttled too.
 */
export interface LimiterOptions {
  readonly initialConcurrency?: number;
  readonly minConcurrency?: number;
  readonly maxConcurrency?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface Permit {
  /** Hands the slot back; `throttled` shrinks the window (once per window, see `epoch`). */
  release(outcome: "ok" | "throttled" | "failed", retryAfterMs?: number): void;
}

export class AdaptiveLimiter {
  #limit: number;
  readonly #min: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #inFlight = 0;
  #pausedUntil = 0;
  /** Bumped at every decrease, so that one burst of 429s answered to one window halves it only once. */
  #epoch = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: LimiterOptions = {}) {
    this.#min = Math.max(1, options.minConcurrency ?? 1);
    this.#max = Math.max(this.#min, options.maxConcurrency ?? 32);
    this.#limit = clamp(options.initialConcurrency ?? 8, this.#min, this.#max);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleep;
  }

  /** The current window, rounded down (at least `minConcurrency`). */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async acquire(signal?: AbortSignal): Promise<Permit> {
    for (;;) {
      signal?.throwIfAborted();
      const pause = this.#pausedUntil - this.#now();
      if (pause > 0) {
        await this.#sleep(pause, signal);
        continue;
      }
      if (this.#inFlight < this.limit) break;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const index = this.#waiting.indexOf(wake);
          if (index >= 0) this.#waiting.splice(index, 1);
          reject(signal?.reason);
        };
        const wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        this.#waiting.push(wake);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    this.#inFlight += 1;
    const epoch = this.#epoch;
    let released = false;
    return {
      release: (outcome, retryAfterMs) => {
        if (released) return;
        released = true;
        this.#inFlight -= 1;
        if (outcome === "ok") {
          this.#limit = Math.min(this.#max, this.#limit + 1 / this.#limit);
        } else if (outcome === "throttled") {
          if (epoch === this.#epoch) {
            this.#limit = Math.max(this.#min, this.#limit / 2);
            this.#epoch += 1;
          }
          if (retryAfterMs !== undefined && retryAfterMs > 0) {
            this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + retryAfterMs);
          }
        }
        this.#wakeWaiters();
      },
    };
  }

  #wakeWaiters(): void {
    let free = this.limit - this.#inFlight;
    while (free > 0 && this.#waiting.length > 0) {
      this.#waiting.shift()?.();
      free -= 1;
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
