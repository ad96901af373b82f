/**
 * The few error types acr-steward's callers act on. Adapters translate SDK and HTTP errors into
 * these (keeping the original as `cause`) so that domain code, functions and the CLI never
 * depend on SDK error shapes.
 */

export interface StewardErrorOptions {
  cause?: unknown;
  /** Structured context for logs (never secrets). */
  context?: Record<string, unknown>;
}

export class StewardError extends Error {
  readonly context: Record<string, unknown>;
  constructor(message: string, options: StewardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.context = options.context ?? {};
  }
}

/** Input that can never succeed as given: bad events, policies, flags, names. Not retried. */
export class ValidationError extends StewardError {}

/** Configuration missing or invalid at start-up. */
export class ConfigurationError extends StewardError {}

/** Credentials missing, expired or rejected (HTTP 401). */
export class AuthenticationError extends StewardError {}

/** Authenticated but not allowed (HTTP 403, or a scope the token does not carry). */
export class AuthorizationError extends StewardError {}

/** The repository, tag or digest does not exist (HTTP 404). */
export class NotFoundError extends StewardError {}

/** The service asked us to slow down (HTTP 429); `retryAfterMs` when it said how long. */
export class ThrottledError extends StewardError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: StewardErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The service failed or could not be reached (5xx, network, timeout). Retry later. */
export class UnavailableError extends StewardError {}

/** A reference (repository, tag, digest, host) that does not follow the grammar. */
export class InvalidReferenceError extends ValidationError {}

/** An operation refused because it would break a guard (lock, cap, partial listing...). */
export class GuardError extends StewardError {}

/** Optimistic concurrency lost (ETag mismatch) or a lease held by someone else. */
export class ConflictError extends StewardError {}

/**
 * A listing (repositories, tags, manifests) that stopped before its end. Whatever was seen is NOT the
 * truth: callers must never tombstone, delete or report "absent" on the strength of it.
 * `itemsSeen` counts what the iterator yielded before failing; `items` holds them when the caller
 * collected the listing (empty for streamed listings); `cause` is the error that stopped it.
 */
export class PartialListingError<T = unknown> extends StewardError {
  readonly listing: string;
  readonly itemsSeen: number;
  readonly items: readonly T[];
  constructor(
    message: string,
    options: StewardErrorOptions & { listing: string; itemsSeen: number; items?: readonly T[] },
  ) {
    super(message, options);
    this.listing = options.listing;
    this.itemsSeen = options.itemsSeen;
    this.items = options.items ?? [];
  }
}

/** The registry does not offer this operation (e.g. locks on a registry that is not ACR). */
export class UnsupportedOperationError extends StewardError {}

/** Normalizes anything thrown into an Error. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : JSON.stringify(value));
}

/** True for failures worth retrying: throttling and unavailability. */
export function isTransient(error: unknown): boolean {
  return error instanceof ThrottledError || error instanceof UnavailableError;
}
