import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { type EmulatorOptions, type RunningEmulator, startEmulator } from "../../emulator/index.js";

/**
 * Starts an emulator for a test and hands back everything a client needs.
 *
 * Trusting the emulator's private CA: `@azure/core-rest-pipeline` 1.24 honours `tlsOptions.ca` in the
 * client options (its tlsPolicy sets `request.tlsSettings`, and ContainerRegistryClient passes the same
 * options to its token client), so `clientOptions` below is all the SDK needs; no NODE_EXTRA_CA_CERTS
 * and no global setup. For raw HTTP use `fetchEmulator` (an undici-free https request with the CA);
 * for skopeo pass `--cert-dir` a directory holding `caCertFile` (copy it as `ca.crt`), and for other
 * processes set NODE_EXTRA_CA_CERTS=<caCertFile> in their environment.
 *
 *   const env = await startTestEmulator({ seed: { kind: "demo" } });
 *   const client = new ContainerRegistryClient(env.url, env.credential, env.clientOptions);
 *   ...
 *   await env.close();
 */

export interface TestEmulator {
  readonly emulator: RunningEmulator;
  readonly url: string;
  readonly loginServer: string;
  /** Any AAD token works in emulator mode; this one is a fixed fake. */
  readonly credential: TokenCredential;
  /** Client options that trust the emulator's CA (and keep retries quick). */
  readonly clientOptions: {
    tlsOptions: { ca: string };
    retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
  };
  close(): Promise<void>;
}

/** A TokenCredential that returns a fixed fake AAD token (the emulator accepts any non-empty token). */
export function fakeAadCredential(token = "fake-aad-token-for-emulator"): TokenCredential {
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 }),
  };
}

export async function startTestEmulator(options: EmulatorOptions = {}): Promise<TestEmulator> {
  const emulator = await startEmulator(options);
  return {
    emulator,
    url: emulator.url,
    loginServer: emulator.loginServer,
    credential: fakeAadCredential(),
    clientOptions: {
      tlsOptions: { ca: emulator.caCert },
      retryOptions: { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 200 },
    },
    close: () => emulator.close(),
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  text(): string;
  json(): unknown;
}

/** One HTTPS request to the emulator, trusting its CA. `path` is sent verbatim (no re-encoding). */
export async function fetchEmulator(
  emulator: RunningEmulator,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: emulator.port,
        method,
        path,
        ca: emulator.caCert,
        servername: "localhost",
        headers: {
          ...(init.body !== undefined ? { "Content-Length": String(Buffer.byteLength(init.body)) } : {}),
          ...init.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: () => body.toString("utf8"),
            json: () => JSON.parse(body.toString("utf8")),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** `Authorization: Bearer` headers with a token for the given scopes (e.g. `repository:team/web:pull`). */
export function bearerFor(emulator: RunningEmulator, ...scopes: string[]): Record<string, string> {
  const access = scopes.map((scope) => {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    return {
      type: scope.slice(0, first) as "repository" | "registry",
      name: scope.slice(first + 1, last),
      actions: scope.slice(last + 1).split(","),
    };
  });
  return { Authorization: `Bearer ${emulator.issueAccessToken(access)}` };
}
