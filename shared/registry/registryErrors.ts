import {
  AuthenticationError,
  AuthorizationError,
  ConfigurationError,
  GuardError,
  NotFoundError,
  StewardError,
  ThrottledError,
  UnavailableError,
  ValidationError,
} from "../errors/index.js";

/**
 * Turns registry answers (HTTP status, SDK `RestError`, network failures, timeouts) into our error
 * types, with messages that say what to check. Adapters call this; nothing above them sees HTTP.
 */
export interface RegistryCallContext {
  readonly registry: string;
  /** What we were doing, in words: "list tags of team/app", "delete team/app@sha256:...". */
  readonly operation: string;
  /** What a 404 means for this call: "repository team/app", "team/app:v1". */
  readonly subject?: string;
}

export interface HttpFailure {
  readonly status: number;
  readonly retryAfterMs?: number;
  /** Registry error codes and messages from `{"errors":[...]}` when the body had them. */
  readonly detail?: string;
  readonly cause?: unknown;
}

export function errorFromStatus(failure: HttpFailure, context: RegistryCallContext): StewardError {
  const { status } = failure;
  const what = `${context.operation} on ${context.registry}`;
  const detail = failure.detail ? ` (registry said: ${failure.detail})` : "";
  const options = {
    cause: failure.cause,
    context: { registry: context.registry, operation: context.operation, status },
  };
  if (status === 401) {
    return new AuthenticationError(
      `${what} was refused: not authenticated (401)${detail}. Check the credentials (az login, managed identity client id, AZURE_* service principal variables, or --username/--password) and that the identity has a role on the registry (AcrPull to read, AcrPush to write, AcrDelete to delete).`,
      options,
    );
  }
  if (status === 403) {
    return new AuthorizationError(
      `${what} was refused: not allowed (403)${detail}. The identity is known but lacks permission: check its role assignment on the registry (AcrPull, AcrPush, AcrDelete) or the scope map of the repository-scoped token.`,
      options,
    );
  }
  if (status === 404) {
    const subject = context.subject ?? "the repository, tag or digest";
    return new NotFoundError(
      `${subject} was not found on ${context.registry} (404) during ${context.operation}${detail}. Check the spelling of the repository and the tag or digest.`,
      options,
    );
  }
  if (status === 405 || status === 409) {
    return new GuardError(
      `${what} was refused by the registry (${status})${detail}. The manifest or repository may be locked (deleteEnabled/writeEnabled false): see 'acr-steward inspect' and 'acr-steward unlock'.`,
      options,
    );
  }
  if (status === 429) {
    const wait =
      failure.retryAfterMs === undefined
        ? ""
        : `; it asked to wait ${Math.ceil(failure.retryAfterMs / 1000)} s`;
    return new ThrottledError(
      `${what} was throttled (429)${wait}. acr-steward backs off and retries; if this persists, lower the concurrency or spread the work over time (ACR limits requests per identity and minute).`,
      { ...options, ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }) },
    );
  }
  if (status >= 500) {
    return new UnavailableError(
      `${what} failed: the registry answered ${status}${detail}. This is usually transient: retry later and check the service health (Azure status page, registry health).`,
      options,
    );
  }
  if (status === 400 || status === 413 || status === 416) {
    return new ValidationError(`${what} was rejected as invalid (${status})${detail}.`, options);
  }
  return new StewardError(`${what} failed with an unexpected answer ${status}${detail}.`, options);
}

export function timeoutError(
  context: RegistryCallContext,
  timeoutMs: number,
  cause: unknown,
): UnavailableError {
  return new UnavailableError(
    `${context.operation} on ${context.registry} timed out after ${timeoutMs} ms. Check the network path to the registry and its health; acr-steward retries timeouts.`,
    { cause, context: { registry: context.registry, operation: context.operation, timeoutMs } },
  );
}

export function networkError(context: RegistryCallContext, cause: unknown): StewardError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME_MISMATCH/i.test(code)) {
    // Not transient: retrying will not make the certificate trusted.
    return new ConfigurationError(
      `the TLS certificate of ${context.registry} is not trusted (${code}) during ${context.operation}. For a registry with a private CA (such as the emulator) pass --ca-cert FILE; otherwise check the host name.`,
      { cause, context: { registry: context.registry, operation: context.operation } },
    );
  }
  const reason = typeof code === "string" ? code : cause instanceof Error ? cause.message : String(cause);
  return new UnavailableError(
    `could not reach ${context.registry} for ${context.operation}: ${reason}. Check the host name, network and proxy settings.`,
    { cause, context: { registry: context.registry, operation: context.operation } },
  );
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | undefined | null,
  now: number = Date.now(),
): number | undefined {
  if (value === undefined || value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Reads `{"errors":[{"code","message"}]}` (OCI and ACR error bodies) into one line. */
export function describeErrorBody(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    const parts = (parsed.errors ?? [])
      .map((e) => [e.code, e.message].filter((x) => typeof x === "string" && x !== "").join(": "))
      .filter((line) => line !== "");
    return parts.length > 0 ? parts.join("; ") : undefined;
  } catch {
    return undefined;
  }
}
