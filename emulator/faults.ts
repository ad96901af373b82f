import { RegistryError, RegistryErrorCode } from "./errors.js";
import type { FailRates, RateLimits } from "./options.js";

/**
 * Fault injection and ACR-like throttling: added latency, random 429/500 answers at configured rates
 * (reproducible with a seed), and per-identity request budgets per minute by category.
 */

export type RequestCategory = "reads" | "writes" | "deletes";

export interface FaultSettings {
  latencyMs: number;
  failRates: FailRates;
  retryAfterSeconds: number;
  rateLimits: RateLimits;
}

export function categoryOf(method: string): RequestCategory {
  if (method === "DELETE") return "deletes";
  if (method === "GET" || method === "HEAD") return "reads";
  return "writes";
}

/** mulberry32: tiny, fast, and good enough to spread injected faults. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const WINDOW_MS = 60_000;

export class FaultInjector {
  private settings: FaultSettings;
  private random: () => number;
  private readonly windows = new Map<string, { startMs: number; count: number }>();

  constructor(
    settings: FaultSettings,
    randomSeed: number | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.settings = { ...settings };
    this.random = seededRandom(randomSeed ?? Math.floor(Math.random() * 2 ** 32));
  }

  current(): Readonly<FaultSettings> {
    return this.settings;
  }

  /** Changes faults at run time (tests and benchmarks); a new seed restarts the random sequence. */
  update(changes: Partial<FaultSettings> & { randomSeed?: number }): void {
    const { randomSeed, ...rest } = changes;
    this.settings = { ...this.settings, ...rest };
    if (randomSeed !== undefined) this.random = seededRandom(randomSeed);
    if (rest.rateLimits !== undefined) this.windows.clear();
  }

  latencyMs(): number {
    return this.settings.latencyMs;
  }

  /** An injected failure for this request, or undefined. Draws one random number per request. */
  injectedFailure(): RegistryError | undefined {
    const rate429 = this.settings.failRates["429"] ?? 0;
    const rate500 = this.settings.failRates["500"] ?? 0;
    if (rate429 === 0 && rate500 === 0) return undefined;
    const draw = this.random();
    if (draw < rate429) return this.tooManyRequests(this.settings.retryAfterSeconds, "injected");
    if (draw < rate429 + rate500) {
      return new RegistryError(500, RegistryErrorCode.internal, "internal server error", { injected: true });
    }
    return undefined;
  }

  /** Counts the request against the identity's budget; a 429 error once the minute's budget is spent. */
  spendBudget(identity: string, category: RequestCategory): RegistryError | undefined {
    const limit = this.settings.rateLimits[category];
    if (limit === undefined) return undefined;
    const now = this.clock();
    const key = `${category}\u0000${identity}`;
    let window = this.windows.get(key);
    if (window === undefined || now - window.startMs >= WINDOW_MS) {
      window = { startMs: now, count: 0 };
      this.windows.set(key, window);
    }
    if (window.count >= limit) {
      const retryAfter = Math.max(1, Math.ceil((window.startMs + WINDOW_MS - now) / 1000));
      return this.tooManyRequests(retryAfter, category);
    }
    window.count += 1;
    return undefined;
  }

  private tooManyRequests(retryAfterSeconds: number, reason: string): RegistryError {
    return new RegistryError(
      429,
      RegistryErrorCode.tooManyRequests,
      "too many requests",
      { reason },
      { "Retry-After": String(retryAfterSeconds) },
    );
  }
}
