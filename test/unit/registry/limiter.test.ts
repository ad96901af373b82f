import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AdaptiveLimiter, type Permit } from "../../../shared/registry/limiter.js";

describe("AdaptiveLimiter", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("never lets more than the window run at once", async () => {
    const limiter = new AdaptiveLimiter({ initialConcurrency: 3, maxConcurrency: 3 });
    let running = 0;
    let peak = 0;
    const workers = Array.from({ length: 20 }, async () => {
      const permit = await limiter.acquire();
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running -= 1;
      permit.release("ok");
    });
    await vi.runAllTimersAsync();
    await Promise.all(workers);
    expect(peak).toBe(3);
  });

  it("halves the window once per burst of throttled answers, and grows back additively", async () => {
    const limiter = new AdaptiveLimiter({ initialConcurrency: 8, maxConcurrency: 16 });
    const permits: Permit[] = [];
    for (let i = 0; i < 8; i += 1) permits.push(await limiter.acquire());
    for (const permit of permits) permit.release("throttled");
    expect(limiter.limit).toBe(4);

    // +1/limit per success: about one more slot per full window of successes.
    for (let i = 0; i < 5; i += 1) (await limiter.acquire()).release("ok");
    expect(limiter.limit).toBe(5);
  });

  it("keeps at least the minimum window", async () => {
    const limiter = new AdaptiveLimiter({ initialConcurrency: 2, minConcurrency: 1 });
    for (let i = 0; i < 5; i += 1) (await limiter.acquire()).release("throttled");
    expect(limiter.limit).toBe(1);
  });

  it("pauses every caller until Retry-After has passed", async () => {
    const limiter = new AdaptiveLimiter({ initialConcurrency: 4 });
    (await limiter.acquire()).release("throttled", 2000);
    let acquired = false;
    const waiting = limiter.acquire().then((permit) => {
      acquired = true;
      return permit;
    });
    await vi.advanceTimersByTimeAsync(1999);
    expect(acquired).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    (await waiting).release("ok");
    expect(acquired).toBe(true);
  });
});
