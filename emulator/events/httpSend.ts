import http from "node:http";
import https from "node:https";

export interface OutgoingRequest {
  readonly url: URL;
  readonly method: "POST" | "OPTIONS";
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Private CA to trust for https subscribers. */
  readonly ca?: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export interface SubscriberAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Answers longer than this are cut: a subscriber's reply only matters for the handshake. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One HTTP exchange with a subscriber. Rejects on network errors, timeouts and aborts; any HTTP
 * status resolves (the caller decides what counts as delivered).
 */
export function sendToSubscriber(request: OutgoingRequest): Promise<SubscriberAnswer> {
  return new Promise((resolve, reject) => {
    const isHttps = request.url.protocol === "https:";
    const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8");
    const headers: Record<string, string> = { ...request.headers };
    if (body !== undefined) headers["content-length"] = String(body.length);
    const options: https.RequestOptions = {
      method: request.method,
      headers,
      signal: request.signal,
      timeout: request.timeoutMs,
      // A fresh connection per delivery: subscribers come and go during tests and restarts.
      agent: false,
      ...(isHttps && request.ca !== undefined ? { ca: request.ca } : {}),
    };
    const outgoing = (isHttps ? https : http).request(request.url, options, (response) => {
      const chunks: Buffer[] = [];
      let received = 0;
      response.on("data", (chunk: Buffer) => {
        if (received < MAX_ANSWER_BYTES) chunks.push(chunk);
        received += chunk.length;
      });
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      response.on("error", reject);
    });
    outgoing.on("timeout", () => outgoing.destroy(new Error(`no answer within ${request.timeoutMs} ms`)));
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

/** Subscriber URLs often carry keys in the query (`?code=`): logs show origin and path only. */
export function redactUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
