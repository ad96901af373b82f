import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AuthenticationError,
  NotFoundError,
  ThrottledError,
  UnavailableError,
} from "../../../shared/errors/index.js";
import { AdaptiveLimiter } from "../../../shared/registry/limiter.js";
import {
  backoffDelay,
  type CallEnvironment,
  callRegistry,
  DEFAULT_RETRY_POLICY,
} from "../../../shared/registry/reliability.js";
import { InMemoryTelemetry } from "../../../shared/telemetry/telemetry.js";

const context = { registry: "r.azurecr.io", operation: "list tags of app" };

function environment(telemetry = new InMemoryTelemetry()): CallEnvironment {
  return {
    policy: {
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: 4,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      attemptTimeoutMs: 5000,
    },
    limiter: new AdaptiveLimiter({ initialConcurrency: 2 }),
    telemetry,
    random: () => 0.5,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}

describe("callRegistry", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("retries a 429 no sooner than Retry-After says, then succeeds", async () => {
    const telemetry = new InMemoryTelemetry();
    const attempts: number[] = [];
    const promise = callRegistry(environment(telemetry), context, async () => {
      attempts.push(Date.now());
      if (attempts.length === 1) throw new ThrottledError("slow down", { retryAfterMs: 3000 });
      return "ok";
    });
    await vi.advanceTimersByTimeAsync(2999);
    expect(attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    await expect(promise).resolves.toBe("ok");
    expect(attempts).toHaveLength(2);
    expect((attempts[1] ?? 0) - (attempts[0] ?? 0)).toBeGreaterThanOrEqual(3000);
    expect(telemetry.value("registry.calls")).toBe(2);
    expect(telemetry.value("registry.retries")).toBe(1);
    expect(telemetry.value("registry.throttled")).toBe(1);
  });

  it("retries 5xx with growing back-off and gives up after maxAttempts with the last error", async () => {
    let calls = 0;
    const promise = callRegistry(environment(), context, async () => {
      calls += 1;
      throw new UnavailableError("registry answered 503");
    });
    const settled = promise.catch((error: unknown) => error);
    await vi.runAllTimersAsync();
    const error = await settled;
    expect(calls).toBe(4);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/gave up after 4 attempts/);
  });

  it("does not retry answers that cannot change (401, 404)", async () => {
    for (const failure of [new AuthenticationError("no"), new NotFoundError("gone")]) {
      let calls = 0;
      await expect(
        callRegistry(environment(), context, async () => {
          calls += 1;
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(calls).toBe(1);
    }
  });

  it("turns an attempt that outlives its timeout into a retried UnavailableError", async () => {
    let calls = 0;
    const env = {
      ...environment(),
      policy: { ...environment().policy, attemptTimeoutMs: 1000, maxAttempts: 2 },
    };
    const promise = callRegistry(env, context, (signal) => {
      calls += 1;
      return new Promise<string>((resolve, reject) => {
        if (calls === 2) resolve("second");
        signal.addEventListener("abort", () =>
          reject(Object.assign(new Error("aborted"), { name: "AbortError" })),
        );
      });
    });
    await vi.advanceTimersByTimeAsync(1200);
    await expect(promise).resolves.toBe("second");
    expect(calls).toBe(2);
  });

  it("refuses to wait for a Retry-After longer than the policy allows", async () => {
    const env = { ...environment(), policy: { ...environment().policy, maxRetryAfterMs: 10_000 } };
    let calls = 0;
    await expect(
      callRegistry(env, context, async () => {
        calls += 1;
        throw new ThrottledError("wait an hour", { retryAfterMs: 3_600_000 });
      }),
    ).rejects.toBeInstanceOf(ThrottledError);
    expect(calls).toBe(1);
  });
});

describe("backoffDelay (full jitter)", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };

  it("draws uniformly below an exponential ceiling that is capped", () => {
    expect(backoffDelay(policy, 1, undefined, () => 0.999)).toBeLessThan(100);
    expect(backoffDelay(policy, 3, undefined, () => 0.999)).toBeLessThan(400);
    expect(backoffDelay(policy, 3, undefined, () => 0.999)).toBeGreaterThanOrEqual(399);
    expect(backoffDelay(policy, 20, undefined, () => 0.999)).toBeLessThan(1000);
    expect(backoffDelay(policy, 5, undefined, () => 0)).toBe(0);
  });

  it("never goes below Retry-After", () => {
    expect(backoffDelay(policy, 1, 5000, () => 0)).toBe(5000);
    expect(backoffDelay(policy, 1, 5000, () => 0.99)).toBeLessThan(5100);
  });
});
