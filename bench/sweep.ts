/**
 * Sweep cost against the naive algorithm of scripted cleanups, on the same synthetic registry in the
 * same run.
 *
 *   npx tsx --expose-gc bench/sweep.ts            # 100 repositories x 1,000 manifests, 20 ms latency
 *   npx tsx --expose-gc bench/sweep.ts --quick    # 10 x 200, for development
 *
 * - acr-steward: `runSweep` (catalog, then each repository's manifest listing with metadata, diffed
 *   with the inventory in Azurite, scans and marks), first on an empty inventory (the backfill a new
 *   installation does), then again on the unchanged registry (the daily steady state).
 * - naive: what scripted cleanups do: list the tags of each repository, then GET each tag's manifest.
 *
 * The emulator runs in a child process (so its memory is not counted), with 20 ms of latency per
 * request; Azurite is spawned too. Both algorithms reconcile 8 repositories at a time. Registry calls
 * are the emulator's own request counts. Peak memory is this process's heap above its level before
 * the phase (sampled every 20 ms).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startEmulator } from "../emulator/index.js";
import type { StorageCallObserver } from "../shared/inventory/storageErrors.js";
import { openRegistry } from "../shared/registry/openRegistry.js";
import type { Registry } from "../shared/registry/registry.js";
import { runSweep } from "../shared/sweep/runSweep.js";
import { openSweepStorage } from "../shared/sweep/services.js";
import { fakeAadCredential } from "../test/helpers/emulator.js";
import { AzuriteProcess, uniqueName } from "../test/helpers/storage.js";

const LATENCY_MS = 20;
const CONCURRENCY = 8;
/** Inventory-only sweeps: scan queueing is follow-up work per new digest, measured by bench/ingest.ts. */
const SCAN_SLICES = Number(process.env.SWEEP_BENCH_SCAN_SLICES ?? 0);

interface Served {
  url: string;
  loginServer: string;
  caCert: string;
  port: number;
}

// ---- child: the emulator ------------------------------------------------------------------------

async function serveEmulator(repos: number, manifests: number, latencyMs: number): Promise<void> {
  const emulator = await startEmulator({ seed: { kind: "synthetic", repos, manifests }, latencyMs });
  const served: Served = {
    url: emulator.url,
    loginServer: emulator.loginServer,
    caCert: emulator.caCert,
    port: emulator.port,
  };
  process.stdout.write(`${JSON.stringify(served)}\n`);
  const stop = () => void emulator.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.stdin.once("end", stop);
  process.stdin.resume();
}

async function spawnEmulator(
  repos: number,
  manifests: number,
): Promise<{ served: Served; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      "--serve-emulator",
      String(repos),
      String(manifests),
      String(LATENCY_MS),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the emulator exited (${code})`)));
  });
  return { served: JSON.parse(line) as Served, child };
}

function emulatorCall(served: Served, method: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: served.port,
        method,
        path,
        ca: served.caCert,
        servername: "localhost",
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve(text === "" ? undefined : JSON.parse(text));
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function registryCalls(served: Served): Promise<{ total: number; byRoute: Record<string, number> }> {
  return (await emulatorCall(served, "GET", "/_emulator/stats")) as {
    total: number;
    byRoute: Record<string, number>;
  };
}

// ---- measuring ----------------------------------------------------------------------------------

interface Phase<T> {
  readonly result: T;
  readonly wallMs: number;
  readonly registryCalls: number;
  readonly callsByRoute: Record<string, number>;
  readonly peakHeapMiB: number;
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function measure<T>(served: Served, work: () => Promise<T>): Promise<Phase<T>> {
  collectGarbage();
  await emulatorCall(served, "POST", "/_emulator/stats/reset");
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 20);
  const started = performance.now();
  try {
    const result = await work();
    const wallMs = performance.now() - started;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    const stats = await registryCalls(served);
    return {
      result,
      wallMs: Math.round(wallMs),
      registryCalls: stats.total,
      callsByRoute: stats.byRoute,
      peakHeapMiB: round((peak - baseline) / 1024 / 1024),
    };
  } finally {
    clearInterval(sampler);
  }
}

const round = (value: number) => Math.round(value * 10) / 10;

async function open(served: Served): Promise<Registry> {
  return openRegistry({
    registry: served.loginServer,
    credentials: { kind: "token", credential: fakeAadCredential() },
    allowList: [served.loginServer],
    caCertPem: served.caCert,
    kind: "acr",
    concurrency: { initial: 16, max: 32 },
  });
}

/** The naive algorithm: list tags, then one manifest GET per tag. */
async function naiveSweep(
  registry: Registry,
): Promise<{ repositories: number; tags: number; manifestsRead: number }> {
  const repositories: string[] = [];
  for await (const repository of registry.listRepositories()) repositories.push(repository);
  let tags = 0;
  let manifestsRead = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < repositories.length) {
        const repository = repositories[next++] as string;
        const names: string[] = [];
        for await (const tag of registry.listTags(repository)) names.push(tag.name);
        tags += names.length;
        for (const name of names) {
          // A GET by tag, as `az acr manifest show` / `crane manifest` would do it.
          const content = await registry.getManifest(repository, name);
          if (content.bytes.length > 0) manifestsRead += 1;
        }
      }
    }),
  );
  return { repositories: repositories.length, tags, manifestsRead };
}

interface StorageCounts {
  inventoryWrites: number;
  storageCalls: number;
}

function storageCounter(): { observer: StorageCallObserver; counts: StorageCounts; reset(): void } {
  const counts: StorageCounts = { inventoryWrites: 0, storageCalls: 0 };
  const observer: StorageCallObserver = (operation: string) => {
    counts.storageCalls += 1;
    if (/^(write (manifest|tag|audit)|remove tag)/.test(operation)) counts.inventoryWrites += 1;
  };
  return {
    observer,
    counts,
    reset() {
      counts.inventoryWrites = 0;
      counts.storageCalls = 0;
    },
  };
}

async function sweepPhases(connectionString: string, repos: number, manifests: number, withNaive: boolean) {
  const { served, child } = await spawnEmulator(repos, manifests);
  try {
    const registry = await open(served);
    const counter = storageCounter();
    const storage = await openSweepStorage({
      storage: { kind: "connectionString", connectionString },
      registries: () => registry,
      scanFreshnessMs: 7 * 86_400_000,
      retentionDebounceMs: 600_000,
      names: {
        tables: {
          manifests: uniqueName("bm"),
          tags: uniqueName("bt"),
          audit: uniqueName("ba"),
          coordination: uniqueName("bc"),
          scans: uniqueName("bs"),
        },
        queues: {
          scanRequests: uniqueName("bq-scan"),
          retentionRequests: uniqueName("bq-ret"),
          reconcileRequests: uniqueName("bq-rec"),
        },
      },
      onStorageCall: counter.observer,
    });
    const dependencies = {
      registry,
      inventory: storage.inventory,
      enricher: storage.enricher,
      tagRemovals: storage.tagRemovals,
      followUp: storage.followUp,
      progress: storage.progress,
      now: () => new Date(),
    };
    const summarize = (phase: Phase<Awaited<ReturnType<typeof runSweep>>>) => ({
      wallMs: phase.wallMs,
      registryCalls: phase.registryCalls,
      peakHeapMiB: phase.peakHeapMiB,
      manifests: phase.result.counts.manifests,
      added: phase.result.counts.added,
      updated: phase.result.counts.updated,
      tombstoned: phase.result.counts.tombstoned,
      scansQueued: phase.result.counts.scansQueued,
      failedRepositories: phase.result.failed.length,
      inventoryWrites: counter.counts.inventoryWrites,
      storageCalls: counter.counts.storageCalls,
      manifestListingCalls: phase.callsByRoute["GET /acr/v1/{name}/_manifests"] ?? 0,
    });
    counter.reset();
    const options = { concurrency: CONCURRENCY, scanSlices: SCAN_SLICES };
    const first = await measure(served, () => runSweep(dependencies, options));
    const firstSummary = summarize(first);
    counter.reset();
    const second = await measure(served, () => runSweep(dependencies, options));
    const secondSummary = summarize(second);
    let naive: Record<string, unknown> | undefined;
    if (withNaive) {
      const phase = await measure(served, () => naiveSweep(registry));
      naive = {
        wallMs: phase.wallMs,
        registryCalls: phase.registryCalls,
        peakHeapMiB: phase.peakHeapMiB,
        ...phase.result,
      };
    }
    return {
      repositories: repos,
      manifestsPerRepository: manifests,
      firstSweep: firstSummary,
      secondSweep: secondSummary,
      naive,
    };
  } finally {
    child.stdin?.end();
    child.kill("SIGTERM");
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const main = quick ? { repos: 10, manifests: 200 } : { repos: 100, manifests: 1000 };
  const small = quick ? { repos: 2, manifests: 200 } : { repos: 10, manifests: 1000 };
  const loadBefore = loadavg();
  const azurite = await AzuriteProcess.start();
  try {
    const comparison = await sweepPhases(azurite.connectionString, main.repos, main.manifests, true);
    const smaller = await sweepPhases(azurite.connectionString, small.repos, small.manifests, false);
    const naive = comparison.naive as { registryCalls: number; wallMs: number; peakHeapMiB: number };
    const steward = comparison.secondSweep;
    const result = {
      measuredAt: new Date().toISOString(),
      mode: quick ? "quick" : "full",
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        node: process.version,
        totalMemoryMiB: Math.round(totalmem() / 1048576),
        freeMemoryMiB: Math.round(freemem() / 1048576),
        loadAverageBefore: loadBefore.map(round),
        loadAverageAfter: loadavg().map(round),
      },
      setup: {
        registry: `emulator (child process), synthetic seed, ${LATENCY_MS} ms latency per request`,
        storage: "Azurite 3.35 in memory, spawned on loopback",
        repositoriesAtOnce: CONCURRENCY,
        scanSlices: SCAN_SLICES,
        gcExposed: typeof (globalThis as { gc?: unknown }).gc === "function",
      },
      comparison,
      ratios: {
        registryCallsNaiveOverFirstSweep: round(naive.registryCalls / comparison.firstSweep.registryCalls),
        registryCallsNaiveOverSecondSweep: round(naive.registryCalls / steward.registryCalls),
        wallTimeNaiveOverFirstSweep: round(naive.wallMs / comparison.firstSweep.wallMs),
        wallTimeNaiveOverSecondSweep: round(naive.wallMs / steward.wallMs),
      },
      memory: {
        [`${smaller.repositories * smaller.manifestsPerRepository} manifests`]: {
          firstSweepPeakHeapMiB: smaller.firstSweep.peakHeapMiB,
          secondSweepPeakHeapMiB: smaller.secondSweep.peakHeapMiB,
        },
        [`${comparison.repositories * comparison.manifestsPerRepository} manifests`]: {
          firstSweepPeakHeapMiB: comparison.firstSweep.peakHeapMiB,
          secondSweepPeakHeapMiB: comparison.secondSweep.peakHeapMiB,
        },
      },
      smaller,
      notes: [
        "firstSweep: empty inventory (a new installation's backfill); secondSweep: the same registry unchanged.",
        "inventoryWrites: manifest, tag and audit writes and tag removals in the inventory tables.",
        "registryCalls include token requests; the naive algorithm gets the same client, retries, limiter and concurrency.",
        "peakHeapMiB: heap above the level before the phase, sampled every 20 ms; the emulator runs in another process.",
      ],
    };
    const file = quick ? "bench/results/sweep-quick.json" : "bench/results/sweep.json";
    mkdirSync("bench/results", { recursive: true });
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await azurite.stop();
  }
}

if (process.argv[2] === "--serve-emulator") {
  await serveEmulator(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}
