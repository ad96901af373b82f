/**
 * Event Grid retries a failed delivery on a growing schedule (10 s, 30 s, 1 min, 5 min, 10 min,
 * 30 min, 1 h, ... for up to 24 h). The emulator keeps the shape but shrinks the delays so that
 * tests and local runs see retries within seconds, and it bounds the attempts.
 */
export interface RetryPolicy {
  /** Total attempts per delivery, the first one included. */
  readonly maxAttempts: number;
  /** Delay before retry n (1-based) is `delaysMs[n - 1]`; the last value repeats. */
  readonly delaysMs: readonly number[];
}

export const EMULATOR_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  delaysMs: [100, 300, 600, 3_000, 6_000],
};

export function resolveRetryPolicy(overrides: Partial<RetryPolicy> | undefined): RetryPolicy {
  const maxAttempts = overrides?.maxAttempts ?? EMULATOR_RETRY_POLICY.maxAttempts;
  const delaysMs = overrides?.delaysMs ?? EMULATOR_RETRY_POLICY.delaysMs;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`event retry maxAttempts must be a whole number >= 1, got ${maxAttempts}`);
  }
  if (delaysMs.length === 0 || delaysMs.some((delay) => !Number.isFinite(delay) || delay < 0)) {
    throw new RangeError("event retry delaysMs must be a non-empty list of delays >= 0");
  }
  return { maxAttempts, delaysMs };
}

/** Delay before the given retry (1 = first retry). */
export function retryDelayMs(policy: RetryPolicy, retry: number): number {
  const index = Math.min(Math.max(retry, 1), policy.delaysMs.length) - 1;
  return policy.delaysMs[index] ?? 0;
}

/** Event Grid counts 200-204 as delivered. */
export function isDelivered(status: number): boolean {
  return status >= 200 && status <= 204;
}

/** Event Grid does not retry these: the event goes straight to dead-lettering (dropped here). */
export function isPermanentFailure(status: number): boolean {
  return status === 400 || status === 413;
}
