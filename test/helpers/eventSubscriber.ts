import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

/** One request as the subscriber received it. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface SubscriberReply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export type SubscriberHandler = (request: ReceivedRequest) => SubscriberReply | Promise<SubscriberReply>;

export interface TestSubscriber {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Resolves when `predicate` holds for the recorded requests (polls every 10 ms). */
  waitFor(predicate: (requests: readonly ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A small webhook endpoint on loopback (port 0) that records every request and answers with
 * `handler`. Pass `tls` to serve HTTPS with a test certificate.
 */
export async function startTestSubscriber(
  handler: SubscriberHandler,
  tls?: { key: string; cert: string },
): Promise<TestSubscriber> {
  const requests: ReceivedRequest[] = [];
  const listener = (incoming: http.IncomingMessage, response: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const received: ReceivedRequest = {
        method: incoming.method ?? "",
        path: incoming.url ?? "",
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(received);
      Promise.resolve()
        .then(() => handler(received))
        .then(
          (reply) => response.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? ""),
          (error: unknown) => response.writeHead(500).end(String(error)),
        );
    });
  };
  const server = tls === undefined ? http.createServer(listener) : https.createServer(tls, listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}/api/events`,
    requests,
    async waitFor(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(requests)) {
        if (Date.now() > deadline) {
          throw new Error(
            `subscriber condition not met within ${timeoutMs} ms; received: ${requests.map((r) => `${r.method} ${r.headers["aeg-event-type"] ?? ""}`).join(", ")}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
