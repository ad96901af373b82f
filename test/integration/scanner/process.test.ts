import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { TableClient } from "@azure/data-tables";
import { QueueClient } from "@azure/storage-queue";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { encodeQueueMessage } from "../../../shared/queues/codec.js";
import { ScanRequestSchema } from "../../../shared/queues/messages.js";
import { TableScanStore } from "../../../shared/scanning/store/tableScanStore.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { FAKE_TRIVY_PATH } from "../../helpers/fake-trivy/index.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";

/**
 * The worker as the container runs it: `scanner/main.ts` in its own process, killed or stopped with
 * signals. The registry is the emulator with anonymous pull (no identity offline); Trivy is the
 * stand-in behind a wrapper script that picks its behaviour.
 */

let env: TestEmulator;
let connectionString: string;
let root: string;
let imageDigest: string;

beforeAll(async () => {
  env = await startTestEmulator({ seed: { kind: "demo" }, anonymousPull: true });
  connectionString = await getTestStorage();
  root = await mkdtemp(path.join(tmpdir(), "acr-steward-scanner-process-"));
  await writeFile(path.join(root, "ca.pem"), env.emulator.caCert);
  const manifest = await fetchTag("team/web", "1.10.0");
  imageDigest = manifest;
}, 60_000);
afterAll(async () => {
  await env?.close();
  await stopTestStorage();
  await rm(root, { recursive: true, force: true });
});

async function fetchTag(repository: string, tag: string): Promise<string> {
  const { openRegistry } = await import("../../../shared/registry/index.js");
  const registry = await openRegistry({
    registry: env.loginServer,
    credentials: { kind: "anonymous" },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
  });
  return (await registry.inspect({ repository, tag })).digest;
}

let names: { queue: string; table: string; container: string };
let requests: QueueClient;
let children: ChildProcess[] = [];

beforeEach(async () => {
  names = { queue: uniqueName("proc"), table: uniqueName("procscans"), container: uniqueName("procreports") };
  requests = new QueueClient(connectionString, names.queue);
  await requests.createIfNotExists();
  children = [];
});
afterEach(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await requests.deleteIfExists();
  await new QueueClient(connectionString, `${names.queue}-poison`).deleteIfExists();
});

async function trivyWrapper(environment: Record<string, string>): Promise<string> {
  const file = path.join(root, `trivy-${uniqueName("w")}`);
  const exports = Object.entries(environment)
    .map(([name, value]) => `export ${name}='${value}'`)
    .join("\n");
  await writeFile(file, `#!/bin/sh\n${exports}\nexec "${FAKE_TRIVY_PATH}" "$@"\n`);
  await chmod(file, 0o755);
  return file;
}

function startWorker(
  trivy: string,
  visibilitySeconds = 30,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scanner/main.ts",
      "--trivy",
      trivy,
      "--cache-dir",
      path.join(root, "cache"),
      "--anonymous",
      "--queue",
      names.queue,
      "--scans-table",
      names.table,
      "--reports-container",
      names.container,
      "--visibility-seconds",
      String(visibilitySeconds),
      "--abandon-after-seconds",
      "20",
    ],
    {
      env: {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: path.join(root, "ca.pem"),
        ACR_STEWARD_REGISTRIES: env.loginServer,
        ACR_STEWARD_STORAGE: connectionString,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function sendRequest(): Promise<void> {
  await requests.sendMessage(
    encodeQueueMessage(ScanRequestSchema, {
      version: 1,
      registry: env.loginServer,
      repository: "team/web",
      digest: imageDigest,
      reason: "push",
      requestedAt: new Date().toISOString(),
    }),
  );
}

function store(): TableScanStore {
  return new TableScanStore(
    TableClient.fromConnectionString(connectionString, names.table, { allowInsecureConnection: true }),
  );
}

describe("scanner/main.ts as a process", () => {
  it("a worker killed mid-scan leaves the message; the next execution scans it and exits 0", async () => {
    await sendRequest();
    const slow = await trivyWrapper({
      FAKE_TRIVY_MODE: "slow",
      FAKE_TRIVY_SLEEP_MS: "30000",
      FAKE_TRIVY_FIXTURE: "alpine-39",
    });
    const first = startWorker(slow, 2);
    await until(() => first.output().includes("scan started")).catch((error) => {
      throw new Error(`${error}: ${first.output()}`);
    });
    first.child.kill("SIGKILL");
    await first.exited;
    expect((await requests.getProperties()).approximateMessagesCount).toBe(1);
    expect((await requests.peekMessages()).peekedMessageItems).toEqual([]);
    expect(await store().latest(imageDigest)).toBeUndefined();

    // The message comes back after its visibility timeout (2 s), but the dead worker's lease on the
    // digest lasts twice that from its last renewal, so an execution in between would rightly answer
    // "busy". Past both, the next execution gets it.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    const fast = await trivyWrapper({ FAKE_TRIVY_FIXTURE: "alpine-39" });
    const second = startWorker(fast);
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain("scan stored");
    expect((await requests.getProperties()).approximateMessagesCount).toBe(0);
    expect(await store().latest(imageDigest)).toMatchObject({ status: "completed", findingsTotal: 6 });
  });

  it("on SIGTERM finishes the running scan, stores it, deletes the message and exits 0", async () => {
    await sendRequest();
    const slow = await trivyWrapper({
      FAKE_TRIVY_MODE: "slow",
      FAKE_TRIVY_SLEEP_MS: "1500",
      FAKE_TRIVY_FIXTURE: "alpine-39",
    });
    const worker = startWorker(slow);
    await until(() => worker.output().includes("scan started"));
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toContain("scan stored");
    expect((await requests.getProperties()).approximateMessagesCount).toBe(0);
    expect(await store().latest(imageDigest)).toMatchObject({ status: "completed", findingsTotal: 6 });
  });

  it("exits 2 with the setting named when the configuration is invalid", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "scanner/main.ts"], {
      env: { PATH: process.env.PATH, ACR_STEWARD_STORAGE: connectionString },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(output).toContain("ACR_STEWARD_REGISTRIES");
  });
});
