import type { Readable } from "node:stream";
import {
  createPipelineRequest,
  type HttpMethods,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
  type TlsSettings,
} from "@azure/core-rest-pipeline";
import { StewardError } from "../errors/index.js";
import {
  describeErrorBody,
  errorFromStatus,
  networkError,
  parseRetryAfter,
  type RegistryCallContext,
} from "./registryErrors.js";
import { type CallEnvironment, type CallOptions, callRegistry } from "./reliability.js";

/**
 * Raw registry requests for what the SDK does not expose (HEAD manifest, blob mount, referrers,
 * manifests in their original bytes) and for the generic OCI adapter. A `RequestSender` is either the
 * `@azure/container-registry` client's own authenticated pipeline (ACR) or our OCI pipeline; both
 * go through `callRegistry` for limits, timeouts and retries.
 */
export type RequestSender = (request: PipelineRequest) => Promise<PipelineResponse>;

export interface RawCall {
  readonly method: HttpMethods;
  /** Path and query, starting with `/` (e.g. `/v2/team%2Fapp/manifests/v1`), or an absolute URL. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | (() => NodeJS.ReadableStream);
  /** Statuses that are an answer, not a failure (404 here turns "not found" into a value). */
  readonly accept: readonly number[];
  /** Return the body as a stream for these statuses instead of buffering it. */
  readonly streamStatuses?: readonly number[];
}

export class RegistryHttp {
  readonly #baseUrl: string;
  readonly #send: RequestSender;
  readonly #environment: CallEnvironment;
  readonly #tlsSettings: TlsSettings | undefined;

  constructor(baseUrl: string, send: RequestSender, environment: CallEnvironment, tlsSettings?: TlsSettings) {
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
    this.#send = send;
    this.#environment = environment;
    this.#tlsSettings = tlsSettings;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** Sends with retries; answers outside `accept` become our typed errors. */
  async request(
    call: RawCall,
    context: RegistryCallContext,
    options: CallOptions = {},
  ): Promise<PipelineResponse> {
    return callRegistry(
      this.#environment,
      context,
      async (signal) => {
        const request = createPipelineRequest({
          url: call.path.startsWith("http") ? call.path : `${this.#baseUrl}${call.path}`,
          method: call.method,
          abortSignal: signal,
          allowInsecureConnection: this.#baseUrl.startsWith("http://"),
          ...(call.streamStatuses === undefined
            ? {}
            : { streamResponseStatusCodes: new Set(call.streamStatuses) }),
        });
        // createPipelineRequest does not copy tlsSettings; the HTTP client reads them from the request.
        if (this.#tlsSettings !== undefined) request.tlsSettings = this.#tlsSettings;
        for (const [name, value] of Object.entries(call.headers ?? {})) request.headers.set(name, value);
        if (call.body !== undefined) request.body = call.body;
        let response: PipelineResponse;
        try {
          response = await this.#send(request);
        } catch (thrown) {
          throw translateThrown(thrown, context);
        }
        if (!call.accept.includes(response.status)) {
          const body = response.readableStreamBody
            ? await drain(response.readableStreamBody)
            : response.bodyAsText;
          throw errorFromStatus(
            {
              status: response.status,
              retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
              detail: describeErrorBody(body ?? undefined),
            },
            context,
          );
        }
        return response;
      },
      options,
    );
  }
}

/**
 * Errors thrown by a pipeline or an SDK call: HTTP errors carry a status; anything else that failed
 * before an answer arrived is a network failure (retried); our own errors pass through.
 */
export function translateThrown(thrown: unknown, context: RegistryCallContext): Error {
  if (thrown instanceof StewardError) return thrown;
  if (thrown instanceof RestError && thrown.statusCode !== undefined) {
    return errorFromStatus(
      {
        status: thrown.statusCode,
        retryAfterMs: parseRetryAfter(thrown.response?.headers.get("retry-after")),
        detail: describeErrorBody(thrown.response?.bodyAsText ?? undefined) ?? thrown.message,
        cause: thrown,
      },
      context,
    );
  }
  if (thrown instanceof Error && thrown.name === "AbortError") return thrown;
  if (thrown instanceof RestError || isNetworkFailure(thrown)) return networkError(context, thrown);
  if (thrown instanceof Error && thrown.name === "DigestMismatchError") {
    return new StewardError(
      `${context.operation} on ${context.registry}: the registry served content whose digest does not match (${thrown.message}).`,
      { cause: thrown },
    );
  }
  return new StewardError(
    `${context.operation} on ${context.registry} failed: ${thrown instanceof Error ? thrown.message : String(thrown)}`,
    { cause: thrown },
  );
}

function isNetworkFailure(thrown: unknown): boolean {
  const code = (thrown as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^(E[A-Z]+|REQUEST_SEND_ERROR|UND_ERR.*|ERR_.*)$/.test(code);
}

async function drain(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as Readable) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buffer.length;
    if (total <= 64 * 1024) chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads a whole response body as bytes (bounded: manifests and configs are small). */
export async function readBody(response: PipelineResponse, maxBytes: number): Promise<Buffer> {
  if (response.readableStreamBody) {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.readableStreamBody as Readable) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      total += buffer.length;
      if (total > maxBytes) throw new StewardError(`response larger than ${maxBytes} bytes`);
      chunks.push(buffer);
    }
    return Buffer.concat(chunks);
  }
  return Buffer.from(response.bodyAsText ?? "", "utf8");
}

/** The `<...>` target of a `Link: <...>; rel="next"` header, if any. */
export function nextLink(linkHeader: string | undefined | null): string | undefined {
  if (!linkHeader) return undefined;
  for (const part of linkHeader.split(",")) {
    const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (match?.[1]) return match[1];
  }
  return undefined;
}

export function encodeRepository(repository: string): string {
  // Nested names keep their '/' in /v2 paths (distribution-spec); ACR accepts both forms.
  return repository.split("/").map(encodeURIComponent).join("/");
}
