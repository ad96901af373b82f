import { ensureError, StewardError, ThrottledError, UnavailableError } from "../errors/index.js";
import { noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { type AdaptiveLimiter, sleep as defaultSleep } from "./limiter.js";
import { type RegistryCallContext, timeoutError } from "./registryErrors.js";

/**
 * Every registry call goes through `callRegistry`: it takes a slot from the registry's limiter,
 * runs one attempt under a timeout, and retries throttling (429), unavailability (5xx, network,
 * timeouts) with exponential back-off and full jitter, waiting at least as long as `Retry-After`
 * says. Other errors (401, 403, 404, bad input) are final at the first attempt.
 */
export interface RetryPolicy {
  /** Attempts in total, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  /** Ceiling of the exponential part (the jittered delay is drawn from [0, min(max, base·2^n)]). */
  readonly maxDelayMs: number;
  /** A `Retry-After` longer than this is not waited for: the error is returned to the caller. */
  readonly maxRetryAfterMs: number;
  /** Timeout of one attempt. */
  readonly attemptTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 250,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 120_000,
  attemptTimeoutMs: 60_000,
};

export interface CallEnvironment {
  readonly policy: RetryPolicy;
  readonly limiter: AdaptiveLimiter;
  readonly telemetry: Telemetry;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function defaultCallEnvironment(
  limiter: AdaptiveLimiter,
  overrides: Partial<CallEnvironment> = {},
): CallEnvironment {
  return {
    policy: DEFAULT_RETRY_POLICY,
    limiter,
    telemetry: noTelemetry,
    random: Math.random,
    sleep: defaultSleep,
    ...overrides,
  };
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Overrides the attempt timeout (blob transfers need longer than metadata calls). */
  readonly attemptTimeoutMs?: number;
  /** Overrides the attempts (1 for requests whose body cannot be sent twice). */
  readonly maxAttempts?: number;
}

/**
 * Runs `attempt` until it succeeds, fails for good, or runs out of attempts. `attempt` must throw
 * our typed errors (adapters translate first) and receives a signal that fires on timeout.
 */
export async function callRegistry<T>(
  environment: CallEnvironment,
  context: RegistryCallContext,
  attempt: (signal: AbortSignal) => Promise<T>,
  options: CallOptions = {},
): Promise<T> {
  const { policy, limiter, telemetry } = environment;
  const timeoutMs = options.attemptTimeoutMs ?? policy.attemptTimeoutMs;
  const dimensions = { registry: context.registry };
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    const permit = await limiter.acquire(options.signal);
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const signal =
      options.signal === undefined ? timeout.signal : AbortSignal.any([options.signal, timeout.signal]);
    telemetry.increment("registry.calls", 1, dimensions);
    let failure: Error;
    try {
      const result = await attempt(signal);
      permit.release("ok");
      return result;
    } catch (thrown) {
      failure =
        timeout.signal.aborted && !options.signal?.aborted
          ? timeoutError(context, timeoutMs, thrown)
          : ensureError(thrown);
      if (failure instanceof ThrottledError) {
        telemetry.increment("registry.throttled", 1, dimensions);
        permit.release("throttled", failure.retryAfterMs);
      } else {
        permit.release("failed");
      }
    } finally {
      clearTimeout(timer);
    }

    const retryable = failure instanceof ThrottledError || failure instanceof UnavailableError;
    if (!retryable || options.signal?.aborted) throw failure;
    const retryAfterMs = failure instanceof ThrottledError ? failure.retryAfterMs : undefined;
    if (
      attemptNumber >= (options.maxAttempts ?? policy.maxAttempts) ||
      (retryAfterMs ?? 0) > policy.maxRetryAfterMs
    ) {
      if (failure instanceof StewardError) failure.context.attempts = attemptNumber;
      failure.message = `${failure.message} (gave up after ${attemptNumber} attempt${attemptNumber === 1 ? "" : "s"})`;
      throw failure;
    }
    telemetry.increment("registry.retries", 1, dimensions);
    await environment.sleep(
      backoffDelay(policy, attemptNumber, retryAfterMs, environment.random),
      options.signal,
    );
  }
}

/**
 * Full jitter: uniform in [0, min(maxDelay, base·2^(attempt-1))]; never shorter than `Retry-After`
 * (plus a little jitter so that callers told the same instant do not return together).
 */
export function backoffDelay(
  policy: RetryPolicy,
  attemptNumber: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attemptNumber - 1));
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs === undefined) return jittered;
  return retryAfterMs + Math.floor(random() * policy.baseDelayMs);
}
