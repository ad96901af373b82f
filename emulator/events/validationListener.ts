import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Serves the `validationUrl` of Event Grid's handshake, for subscribers that validate
 * asynchronously (answer the validation POST with 200 and no code, then GET the URL). Real Event
 * Grid serves it on its own host; the emulator serves it on loopback, plain HTTP, on any free port,
 * and only while a handshake waits for it.
 */
export class ValidationListener {
  private server: http.Server | undefined;
  private starting: Promise<string> | undefined;
  private readonly waiting = new Map<string, () => void>();

  /** Returns the URL to publish and a promise that resolves when the subscriber GETs it. */
  async expect(
    subscriptionName: string,
    validationCode: string,
  ): Promise<{ url: string; seen: Promise<void> }> {
    const base = await this.start();
    const seen = new Promise<void>((resolve) => this.waiting.set(validationCode, resolve));
    const url = new URL(`${base}/eventsubscriptions/${encodeURIComponent(subscriptionName)}/validate`);
    url.searchParams.set("id", validationCode);
    url.searchParams.set("t", new Date().toISOString());
    return { url: url.toString(), seen };
  }

  forget(validationCode: string): void {
    this.waiting.delete(validationCode);
  }

  async close(): Promise<void> {
    this.waiting.clear();
    const server = this.server;
    this.server = undefined;
    this.starting = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private start(): Promise<string> {
    this.starting ??= new Promise<string>((resolve, reject) => {
      const server = http.createServer((request, response) => this.answer(request, response));
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        resolve(`http://127.0.0.1:${port}`);
      });
      this.server = server;
    });
    return this.starting;
  }

  private answer(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const code = url.searchParams.get("id") ?? "";
    const resolve = this.waiting.get(code);
    if (request.method !== "GET" || !/^\/eventsubscriptions\/[^/]+\/validate$/.test(url.pathname)) {
      response.writeHead(404, { "content-type": "text/plain" }).end("unknown validation URL\n");
      return;
    }
    if (resolve === undefined) {
      response.writeHead(400, { "content-type": "text/plain" }).end("unknown or expired validation code\n");
      return;
    }
    this.waiting.delete(code);
    resolve();
    response
      .writeHead(200, { "content-type": "text/plain" })
      .end("Webhook successfully validated as a part of the subscription validation.\n");
  }
}
