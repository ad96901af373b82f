import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

/**
 * Debian's `docker-registry` (Docker distribution 2.8) as a reference registry for fidelity tests:
 * the emulator's /v2 answers are compared with it. Runs on loopback, no auth, filesystem storage
 * in a temp dir, deletes enabled.
 */
export interface ReferenceRegistry {
  /** e.g. http://127.0.0.1:41234 (https:// with `tls`). */
  readonly url: string;
  /** host:port, what skopeo calls the registry. */
  readonly host: string;
  /** Everything the registry wrote to stdout/stderr so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface ReferenceRegistryOptions {
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly binary?: string;
}

const BINARY = "docker-registry";
const READY_TIMEOUT_MS = 15_000;

/** Every registry started and not yet stopped, so a test file can stop them all even after a failure. */
const running = new Set<ReferenceRegistry>();

/** If the test process dies without stopping a registry, the registry must not outlive it. */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const orphan of children) orphan.kill("SIGKILL");
  });
}

export async function stopAllReferenceRegistries(): Promise<void> {
  await Promise.all([...running].map((registry) => registry.stop()));
}

export function referenceRegistryBinary(binary = BINARY): string {
  const found = spawnSync("sh", ["-c", `command -v "${binary}"`], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error(
      `${binary} (Debian package docker-registry) is not installed; run scripts/setup.sh to install the test tools`,
    );
  }
  return path;
}

export async function startReferenceRegistry(
  options: ReferenceRegistryOptions = {},
): Promise<ReferenceRegistry> {
  const binary = referenceRegistryBinary(options.binary);
  const dir = await mkdtemp(join(tmpdir(), "acr-steward-reference-registry-"));
  try {
    // docker-registry cannot listen on port 0: take a free port and retry if someone grabs it first.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        return await launch(binary, dir, await freePort(), options);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(
  binary: string,
  dir: string,
  port: number,
  options: ReferenceRegistryOptions,
): Promise<ReferenceRegistry> {
  const http: Record<string, unknown> = {
    addr: `127.0.0.1:${port}`,
    secret: randomBytes(16).toString("hex"),
  };
  if (options.tls !== undefined) {
    await writeFile(join(dir, "server.pem"), options.tls.certPem);
    await writeFile(join(dir, "server-key.pem"), options.tls.keyPem, { mode: 0o600 });
    http.tls = { certificate: join(dir, "server.pem"), key: join(dir, "server-key.pem") };
  }
  const config = {
    version: 0.1,
    log: { level: "warn", accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, "data") },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
  };
  const configFile = join(dir, "config.yml");
  await writeFile(configFile, stringify(config));

  const child = spawn(binary, ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(child);
  let output = "";
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("error", (error) => collect(Buffer.from(String(error))));

  const scheme = options.tls === undefined ? "http" : "https";
  const url = `${scheme}://127.0.0.1:${port}`;
  let stopped = false;
  const registry: ReferenceRegistry = {
    url,
    host: `127.0.0.1:${port}`,
    output: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(registry);
      await terminate(child, exited);
      await rm(dir, { recursive: true, force: true });
    },
  };
  running.add(registry);
  try {
    await waitUntilListening(child, port, options.tls !== undefined, () => output);
  } catch (error) {
    // Keep the data dir for the next attempt; stop() would remove it.
    stopped = true;
    running.delete(registry);
    await terminate(child, exited);
    throw error;
  }
  return registry;
}

/** Ready when GET /v2/ answers as a distribution registry (not some other process that took the port). */
async function waitUntilListening(
  child: ChildProcess,
  port: number,
  tls: boolean,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `docker-registry exited during start-up (${child.exitCode ?? child.signalCode}): ${output()}`,
      );
    }
    if (await answersAsRegistry(port, tls)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(
    `docker-registry did not listen on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms: ${output()}`,
  );
}

function answersAsRegistry(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    // Only this loopback readiness probe skips certificate checks; the tests themselves verify TLS.
    const request = (tls ? https : http).get(
      { host: "127.0.0.1", port, path: "/v2/", rejectUnauthorized: false, agent: false, timeout: 1_000 },
      (response) => {
        response.resume();
        resolve(response.headers["docker-distribution-api-version"] === "registry/2.0");
      },
    );
    request.once("timeout", () => request.destroy());
    request.once("error", () => resolve(false));
  });
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killed = await Promise.race([exited.then(() => true), delay(5_000).then(() => false)]);
  if (!killed) {
    child.kill("SIGKILL");
    await exited;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
