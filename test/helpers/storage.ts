import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Storage for tests: the Azurite that CI starts (ACR_STEWARD_TEST_STORAGE), or an Azurite spawned
 * for this test file. Tests in parallel processes may share one Azurite, so every test creates its
 * own tables and queues with `uniqueName`.
 */

/** Azurite's well-known development account (public, documented, not a secret). */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuritePorts {
  readonly blob: number;
  readonly queue: number;
  readonly table: number;
}

export interface AzuriteOptions {
  /** Keep data on disk in this folder (survives restarts); in memory when absent. */
  readonly location?: string;
  /** Fixed ports (a restart reuses the ports of the previous run); any free port when absent. */
  readonly ports?: AzuritePorts;
}

/** A spawned Azurite that a test can stop and start again (same ports, same data folder). */
export class AzuriteProcess {
  #child: ChildProcess | undefined;
  #ports: AzuritePorts | undefined;
  readonly #location: string | undefined;

  private constructor(options: AzuriteOptions) {
    this.#location = options.location;
    this.#ports = options.ports;
  }

  static async start(options: AzuriteOptions = {}): Promise<AzuriteProcess> {
    const azurite = new AzuriteProcess(options);
    await azurite.start();
    return azurite;
  }

  get connectionString(): string {
    if (this.#ports === undefined) throw new Error("Azurite has not started yet");
    return connectionStringFor(this.#ports);
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const script = createRequire(import.meta.url).resolve("azurite/dist/src/azurite.js");
    const ports = this.#ports ?? { blob: 0, queue: 0, table: 0 };
    const args = [
      script,
      "--blobHost",
      "127.0.0.1",
      "--queueHost",
      "127.0.0.1",
      "--tableHost",
      "127.0.0.1",
      "--blobPort",
      String(ports.blob),
      "--queuePort",
      String(ports.queue),
      "--tablePort",
      String(ports.table),
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--loose",
      ...(this.#location ? ["--location", this.#location] : ["--inMemoryPersistence"]),
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#ports = await waitForPorts(child);
  }

  /** Graceful stop (Azurite saves its data folder on SIGTERM). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }
}

function waitForPorts(child: ChildProcess): Promise<AzuritePorts> {
  return new Promise((resolve, reject) => {
    const found: Partial<Record<keyof AzuritePorts, number>> = {};
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      for (const match of output.matchAll(
        /Azurite (Blob|Queue|Table) service is successfully listening at \S+:(\d+)/g,
      )) {
        const service = match[1]?.toLowerCase() as keyof AzuritePorts;
        found[service] = Number(match[2]);
      }
      if (found.blob !== undefined && found.queue !== undefined && found.table !== undefined) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ blob: found.blob, queue: found.queue, table: found.table });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.once("exit", (code) =>
      reject(new Error(`Azurite exited (code ${code}) before listening:\n${output}`)),
    );
    child.once("error", reject);
  });
}

export function connectionStringFor(ports: AzuritePorts): string {
  const base = "http://127.0.0.1";
  return [
    "DefaultEndpointsProtocol=http",
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    `BlobEndpoint=${base}:${ports.blob}/${DEV_ACCOUNT}`,
    `QueueEndpoint=${base}:${ports.queue}/${DEV_ACCOUNT}`,
    `TableEndpoint=${base}:${ports.table}/${DEV_ACCOUNT}`,
  ].join(";");
}

let shared: Promise<{ connectionString: string; azurite?: AzuriteProcess }> | undefined;

/**
 * The connection string of the storage this test file uses. Starts Azurite on first use unless CI
 * provides one; call `stopTestStorage` in `afterAll`.
 */
export async function getTestStorage(): Promise<string> {
  shared ??= (async () => {
    const fromEnvironment = process.env.ACR_STEWARD_TEST_STORAGE;
    if (fromEnvironment) return { connectionString: fromEnvironment };
    const azurite = await AzuriteProcess.start();
    process.once("exit", () => {
      // Last resort if a test file forgot stopTestStorage: never leave Azurite running.
      void azurite.stop();
    });
    return { connectionString: azurite.connectionString, azurite };
  })();
  return (await shared).connectionString;
}

export async function stopTestStorage(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) await (await current).azurite?.stop();
}

/**
 * A name no other test uses, valid for both tables (alphanumeric, starts with a letter) and
 * queues (lowercase alphanumeric): `prefix` followed by random hex.
 */
export function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9]/g, "");
  const head = /^[a-z]/.test(clean) ? clean.slice(0, 30) : `t${clean.slice(0, 29)}`;
  return `${head}${randomBytes(5).toString("hex")}`;
}

/** A temporary folder for a persistent Azurite (the restart test); remove it with the returned function. */
export function temporaryAzuriteLocation(): { location: string; remove: () => void } {
  const location = mkdtempSync(join(tmpdir(), "acr-steward-azurite-"));
  return { location, remove: () => rmSync(location, { recursive: true, force: true }) };
}
