import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { type RunningEmulator, startEmulator } from "../emulator/index.js";
import { UnavailableError } from "../shared/errors/index.js";
import { InMemoryAuditSink } from "../shared/registry/audit.js";
import { openRegistry } from "../shared/registry/openRegistry.js";
import type { Registry } from "../shared/registry/registry.js";

/**
 * The embedded defaults: what `acr-steward` runs on when nothing is configured, so that the first
 * command works on a fresh machine after `npm ci` with no network and nothing else installed.
 *
 * - storage: Azurite (an npm dependency) started as a child process on free loopback ports; in memory
 *   for the demo, or with its data in `.acr-steward/azurite/` of the current directory so that a
 *   real registry's inventory and sweep progress survive between runs;
 * - registry: the built-in ACR emulator with the `demo` seed, on a free loopback port, over HTTPS
 *   with a throw-away CA that only this process trusts.
 */

/** Azurite's well-known development account (public, documented, not a secret). */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** Where the embedded storage keeps its data for real registries, relative to the current directory. */
export const EMBEDDED_DATA_DIR = ".acr-steward";

export interface EmbeddedStorage {
  readonly connectionString: string;
  /** The data folder, or undefined when in memory. */
  readonly location: string | undefined;
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts Azurite; `location` keeps data on disk there, otherwise it is in memory and gone on close. */
export async function startEmbeddedStorage(options: { location?: string } = {}): Promise<EmbeddedStorage> {
  const location = options.location === undefined ? undefined : resolve(options.location);
  if (location !== undefined) mkdirSync(location, { recursive: true });
  const script = createRequire(import.meta.url).resolve("azurite/dist/src/azurite.js");
  const args = [
    script,
    ...["--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"],
    ...["--blobPort", "0", "--queuePort", "0", "--tablePort", "0"],
    "--skipApiVersionCheck",
    "--disableTelemetry",
    "--loose",
    ...(location === undefined ? ["--inMemoryPersistence"] : ["--location", location]),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  installExitHook();
  let ports: { blob: number; queue: number; table: number };
  try {
    ports = await listeningPorts(child);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  const base = "http://127.0.0.1";
  const connectionString = [
    "DefaultEndpointsProtocol=http",
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    `BlobEndpoint=${base}:${ports.blob}/${DEV_ACCOUNT}`,
    `QueueEndpoint=${base}:${ports.queue}/${DEV_ACCOUNT}`,
    `TableEndpoint=${base}:${ports.table}/${DEV_ACCOUNT}`,
  ].join(";");
  return { connectionString, location, close: () => stopChild(child) };
}

function listeningPorts(child: ChildProcess): Promise<{ blob: number; queue: number; table: number }> {
  return new Promise((resolvePorts, reject) => {
    const found: Partial<Record<"blob" | "queue" | "table", number>> = {};
    let output = "";
    const timer = setTimeout(
      () =>
        reject(new UnavailableError(`the embedded storage (Azurite) did not start within 30 s:\n${output}`)),
      30_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      for (const match of output.matchAll(
        /Azurite (Blob|Queue|Table) service is successfully listening at \S+:(\d+)/g,
      )) {
        found[match[1]?.toLowerCase() as "blob" | "queue" | "table"] = Number(match[2]);
      }
      if (found.blob !== undefined && found.queue !== undefined && found.table !== undefined) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolvePorts({ blob: found.blob, queue: found.queue, table: found.table });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new UnavailableError(`the embedded storage (Azurite) exited (code ${code}):\n${output}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new UnavailableError("the embedded storage (Azurite) could not start", { cause: error }));
    });
  });
}

/** Graceful stop: Azurite writes its data folder on SIGTERM. */
function stopChild(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      done();
    });
    child.kill("SIGTERM");
  });
}

/** Never leave Azurite behind, even when the CLI is interrupted. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGTERM");
  });
}

export interface DemoRegistry {
  readonly emulator: RunningEmulator;
  readonly registry: Registry;
  close(): Promise<void>;
}

/** The emulator accepts any Entra token; this fixed one never leaves the process. */
const demoCredential: TokenCredential = {
  getToken: async () => ({ token: "acr-steward-demo", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/** The built-in ACR emulator with the `demo` seed, opened through the real ACR adapter. */
export async function startDemoRegistry(): Promise<DemoRegistry> {
  const emulator = await startEmulator({ seed: { kind: "demo" } });
  try {
    const registry = await openRegistry({
      registry: emulator.loginServer,
      credentials: { kind: "token", credential: demoCredential },
      allowList: [emulator.loginServer],
      caCertPem: emulator.caCert,
      kind: "acr",
      actor: "acr-steward demo",
      // The demo registry is thrown away with the process; its audit lines would only be noise.
      audit: new InMemoryAuditSink(),
    });
    return { emulator, registry, close: () => emulator.close() };
  } catch (error) {
    await emulator.close();
    throw error;
  }
}
