import type { TokenClaims } from "./auth.js";
import { RegistryError, RegistryErrorCode } from "./errors.js";

/** What a route returns; the server adds the common headers, Content-Length, and omits bodies on HEAD. */
export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
}

/** The parts of a request a route handler reads. */
export interface RequestContext {
  readonly method: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /** host:port as the client addressed us (one of our aliases), used in challenges and events. */
  readonly host: string;
  readonly requestId: string;
  readonly remoteAddress?: string;
  /** Claims of the verified access token, when the route required one. */
  readonly claims?: TokenClaims;
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { "Content-Type": JSON_CONTENT_TYPE, ...headers },
    body: Buffer.from(JSON.stringify(value)),
  };
}

export function emptyReply(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers };
}

export function header(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Media type without parameters, lower-cased. */
export function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  return contentType.split(";")[0]?.trim().toLowerCase();
}

/**
 * Query values in Link headers: percent-encode only what must be (clients use the link verbatim, and
 * ACR's own links keep `/` and `:` raw).
 */
export function linkQueryValue(value: string): string {
  return value.replace(/[^A-Za-z0-9._~:/@-]/g, (c) => encodeURIComponent(c));
}

/** Parses `n`: undefined when absent, an error when not a non-negative integer. */
export function pageSize(query: URLSearchParams, defaultSize: number, cap: number): number {
  const raw = query.get("n");
  if (raw === null || raw === "") return defaultSize;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new RegistryError(
      400,
      RegistryErrorCode.paginationNumberInvalid,
      "invalid number of results requested",
      {
        n: raw,
      },
    );
  }
  return Math.min(Number(raw), cap);
}

/** ACR prints times with seven fractional digits (.NET ticks), e.g. 2018-09-06T06:17:20.9983915Z. */
export function acrTime(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "0000Z");
}

/** Reads the whole JSON body of a PATCH; undefined when empty. */
export function jsonBody(ctx: RequestContext): unknown {
  if (ctx.body.length === 0) return undefined;
  try {
    return JSON.parse(ctx.body.toString("utf8"));
  } catch {
    throw new RegistryError(400, RegistryErrorCode.badRequest, "the request body is not valid JSON");
  }
}
