/**
 * Sweep cost against the naive algorithm of scripted cleanups, on the same synthetic registry in the
 * same run.
 *
 *   npx tsx --expose-gc bench/sweep.ts            # 100 repositories x 1,000 manifests, 20 ms latency
 *   npx tsx --expose-gc bench/sweep.ts --quick    # 10 x 200, for development (bench/results/sweep-quick.json)
 *
 * - comparison (100,000 manifests): `runSweep` first on an empty inventory (a new installation's
 *   backfill), then again on the unchanged registry (the steady state), against the naive algorithm:
 *   list each repository's tags, then GET each tag's manifest. The inventory is the port in memory on
 *   the inventory's own merge rules: Azurite evaluates table queries by scanning whole tables, so a
 *   100,000-row inventory there would measure Azurite, not the sweep.
 * - memory: the same sweeps on 10,000 manifests; peak heap above the level before each sweep.
 * - onAzurite (10,000 manifests): the real inventory (TableInventoryStore on Azurite) with scans
 *   queued, to count real inventory writes: the second sweep of an unchanged registry writes nothing.
 *
 * The emulator runs in a child process (its memory is not counted) with 20 ms of latency per request.
 * Both algorithms work on 8 repositories at a time with the same client, retries and limiter.
 * Registry calls are the emulator's own request counts (token requests included).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startEmulator } from "../emulator/index.js";
import type { RegistryEvent } from "../shared/events/registryEvent.js";
import {
  isPresent,
  lastChange,
  type ManifestState,
  mergeManifestEvent,
  mergeTagEvent,
  type TagState,
  tagExists,
} from "../shared/inventory/model.js";
import type {
  ApplyAllResult,
  ApplyResult,
  InventoryStore,
  ListImagesOptions,
  ManifestEnricher,
  ManifestRecord,
  TagRecord,
} from "../shared/inventory/ports.js";
import type { StorageCallObserver } from "../shared/inventory/storageErrors.js";
import type { FollowUp } from "../shared/queues/followUp.js";
import { openRegistry } from "../shared/registry/openRegistry.js";
import type { Registry } from "../shared/registry/registry.js";
import { ListingEnricher } from "../shared/sweep/describe.js";
import { InMemorySweepProgress } from "../shared/sweep/progress.js";
import { runSweep } from "../shared/sweep/runSweep.js";
import { openSweepStorage } from "../shared/sweep/services.js";
import { fakeAadCredential } from "../test/helpers/emulator.js";
import { AzuriteProcess, uniqueName } from "../test/helpers/storage.js";

const LATENCY_MS = 20;
const CONCURRENCY = 8;
/** The Azurite run queues scans too (every image checked every sweep). */
const SCAN_SLICES = 1;

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
  /** Highest heap found right after a forced collection (once a second): memory the sweep holds. */
  readonly peakLiveHeapMiB: number | undefined;
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
  const gc = (globalThis as { gc?: () => void }).gc;
  let livePeak = baseline;
  const liveSampler = setInterval(() => {
    if (gc === undefined) return;
    gc();
    livePeak = Math.max(livePeak, process.memoryUsage().heapUsed);
  }, 1000);
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
      peakLiveHeapMiB: gc === undefined ? undefined : round((livePeak - baseline) / 1024 / 1024),
    };
  } finally {
    clearInterval(sampler);
    clearInterval(liveSampler);
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

/**
 * The inventory port in memory, on the inventory's own merge rules (shared/inventory/model.ts), for
 * the 100,000-manifest comparison: Azurite evaluates table queries by scanning the whole table, so a
 * large inventory there measures Azurite rather than the sweep. Rows written are counted.
 */
class InMemoryInventory implements InventoryStore {
  /** Per repository (`registry|repository`): manifests by digest and tags by name. */
  readonly repositories = new Map<
    string,
    { manifests: Map<string, ManifestState>; tags: Map<string, TagState> }
  >();
  writes = 0;

  #repository(registry: string, repository: string) {
    const key = `${registry}|${repository}`;
    let entry = this.repositories.get(key);
    if (entry === undefined) {
      entry = { manifests: new Map(), tags: new Map() };
      this.repositories.set(key, entry);
    }
    return entry;
  }

  constructor(private readonly enricher: ManifestEnricher) {}

  async apply(event: RegistryEvent): Promise<ApplyResult> {
    return (await this.applyAll([event])).results[0] as ApplyResult;
  }

  async applyAll(events: readonly RegistryEvent[]): Promise<ApplyAllResult> {
    const results: ApplyResult[] = [];
    for (const event of events) {
      const repository = this.#repository(event.registry, event.repository);
      const merge = mergeManifestEvent(repository.manifests.get(event.digest), event);
      let state = merge.state;
      if (merge.changed) {
        if (state.artifact === "image" && state.description === undefined && isPresent(state)) {
          try {
            state = {
              ...state,
              description: await this.enricher.describe(event.registry, event.repository, event.digest),
            };
          } catch {
            state = { ...state, needsEnrichment: true };
          }
        }
        repository.manifests.set(event.digest, state);
        this.writes += 1;
      }
      let tagChanged = false;
      if (event.tag !== undefined && (event.kind === "push" || event.kind === "chartPush")) {
        const tag = mergeTagEvent(repository.tags.get(event.tag), { ...event, tag: event.tag });
        if (tag.changed) {
          repository.tags.set(event.tag, tag.state);
          this.writes += 1;
          tagChanged = true;
        }
      }
      results.push({
        eventId: event.id,
        outcome:
          merge.outcome === "tombstoned"
            ? "tombstoned"
            : merge.changed || tagChanged
              ? "applied"
              : merge.outcome,
        becamePresent: merge.becamePresent,
        present: isPresent(state),
        tagChanged,
        needsEnrichment: state.needsEnrichment,
        artifact: state.artifact,
      });
    }
    return { results, rejected: [] };
  }

  async *listImages(options: ListImagesOptions = {}): AsyncIterable<ManifestRecord> {
    for (const [key, repository] of this.repositories) {
      if (options.registry !== undefined && !key.startsWith(`${options.registry}|`)) continue;
      if (options.repository !== undefined && key !== `${options.registry}|${options.repository}`) continue;
      const tagsOf = new Map<string, string[]>();
      for (const tag of repository.tags.values()) {
        if (!tagExists(tag, repository.manifests.get(tag.digest))) continue;
        tagsOf.set(tag.digest, [...(tagsOf.get(tag.digest) ?? []), tag.tag]);
      }
      for (const [digest, state] of repository.manifests) {
        const present = isPresent(state);
        if (!present && !options.includeDeleted) continue;
        const last = lastChange(state);
        yield {
          registry: state.registry,
          repository: state.repository,
          digest,
          mediaType: state.mediaType,
          manifestSize: state.manifestSize,
          artifact: state.artifact,
          state: present ? "present" : "deleted",
          tags: present ? [...(tagsOf.get(digest) ?? [])].sort() : [],
          firstPushedAt: state.firstPush?.at,
          lastPushedAt: state.lastPush?.at,
          pushedBy: undefined,
          deletedAt: present ? undefined : state.lastDelete?.at,
          deletedBy: undefined,
          description: state.description,
          needsEnrichment: state.needsEnrichment,
          enrichmentError: state.enrichmentError,
          lastEventAt: last?.at ?? "",
          lastEventId: last?.eventId ?? "",
        };
      }
    }
  }

  async getManifest(): Promise<ManifestRecord | undefined> {
    return undefined;
  }

  async listTags(): Promise<TagRecord[]> {
    return [];
  }
}

const NO_FOLLOW_UP: FollowUp = {
  requestScan: async () => "fresh",
  requestRetention: async () => "pending",
};

/** The naive algorithm's phase, in the figures both comparisons report. */
async function measureNaive(
  served: Parameters<typeof measure>[0],
  registry: Parameters<typeof naiveSweep>[0],
) {
  const phase = await measure(served, () => naiveSweep(registry));
  return {
    wallMs: phase.wallMs,
    registryCalls: phase.registryCalls,
    peakHeapMiB: phase.peakHeapMiB,
    ...phase.result,
  };
}

/** The 100k comparison: the sweep on an in-memory inventory against the naive algorithm. */
async function comparisonPhases(repos: number, manifests: number, withNaive: boolean) {
  const { served, child } = await spawnEmulator(repos, manifests);
  try {
    const registry = await open(served);
    const enricher = new ListingEnricher(() => registry);
    const inventory = new InMemoryInventory(enricher);
    const dependencies = {
      registry,
      inventory,
      enricher,
      tagRemovals: {
        remove: async (_r: string, _p: string, removals: readonly unknown[]) => removals.length,
      },
      followUp: NO_FOLLOW_UP,
      progress: new InMemorySweepProgress(),
      now: () => new Date(),
    };
    const options = { concurrency: CONCURRENCY, scanSlices: 0 };
    const summarize = (phase: Phase<Awaited<ReturnType<typeof runSweep>>>, writes: number) => ({
      wallMs: phase.wallMs,
      registryCalls: phase.registryCalls,
      manifestListingCalls: phase.callsByRoute["GET /acr/v1/{name}/_manifests"] ?? 0,
      peakHeapMiB: phase.peakHeapMiB,
      peakLiveHeapMiB: phase.peakLiveHeapMiB,
      manifests: phase.result.counts.manifests,
      added: phase.result.counts.added,
      updated: phase.result.counts.updated,
      tombstoned: phase.result.counts.tombstoned,
      failedRepositories: phase.result.failed.length,
      inventoryWrites: writes,
      enrichmentReads: enricher.registryReads,
    });
    const first = await measure(served, () => runSweep(dependencies, options));
    const firstSummary = summarize(first, inventory.writes);
    const writesBefore = inventory.writes;
    const second = await measure(served, () => runSweep(dependencies, options));
    const secondSummary = summarize(second, inventory.writes - writesBefore);
    const naive = withNaive ? await measureNaive(served, registry) : undefined;
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
      peakLiveHeapMiB: phase.peakLiveHeapMiB,
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
    const naive = withNaive ? await measureNaive(served, registry) : undefined;
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
  const large = quick ? { repos: 10, manifests: 200 } : { repos: 100, manifests: 1000 };
  const small = quick ? { repos: 2, manifests: 200 } : { repos: 10, manifests: 1000 };
  const loadBefore = loadavg();
  const started = performance.now();
  const comparison = await comparisonPhases(large.repos, large.manifests, true);
  const smallerInMemory = await comparisonPhases(small.repos, small.manifests, false);
  const azurite = await AzuriteProcess.start();
  let onAzurite: Awaited<ReturnType<typeof sweepPhases>>;
  try {
    onAzurite = await sweepPhases(azurite.connectionString, small.repos, small.manifests, false);
  } finally {
    await azurite.stop();
  }
  const naive = comparison.naive as { registryCalls: number; wallMs: number };
  const result = {
    measuredAt: new Date().toISOString(),
    mode: quick ? "quick" : "full",
    benchWallSeconds: Math.round((performance.now() - started) / 1000),
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
      repositoriesAtOnce: CONCURRENCY,
      gcExposed: typeof (globalThis as { gc?: unknown }).gc === "function",
    },
    comparison: {
      description: `${large.repos} repositories x ${large.manifests} manifests; acr-steward on an in-memory inventory (the inventory's own merge rules), scans not queued; naive = list tags + one manifest GET per tag`,
      ...comparison,
    },
    ratios: {
      registryCallsNaiveOverSweep: round(naive.registryCalls / comparison.firstSweep.registryCalls),
      wallTimeNaiveOverFirstSweep: round(naive.wallMs / comparison.firstSweep.wallMs),
      wallTimeNaiveOverSecondSweep: round(naive.wallMs / comparison.secondSweep.wallMs),
    },
    memory: {
      description:
        "heap above the level before the sweep: peak (sampled every 20 ms, garbage included) and live peak (right after a forced collection, once a second). The second sweep's figures are the sweep's own memory; the first sweep's include the in-memory inventory it builds.",
      [`${small.repos * small.manifests} manifests`]: {
        firstSweepPeakHeapMiB: smallerInMemory.firstSweep.peakHeapMiB,
        secondSweepPeakHeapMiB: smallerInMemory.secondSweep.peakHeapMiB,
        secondSweepPeakLiveHeapMiB: smallerInMemory.secondSweep.peakLiveHeapMiB,
      },
      [`${large.repos * large.manifests} manifests`]: {
        firstSweepPeakHeapMiB: comparison.firstSweep.peakHeapMiB,
        secondSweepPeakHeapMiB: comparison.secondSweep.peakHeapMiB,
        secondSweepPeakLiveHeapMiB: comparison.secondSweep.peakLiveHeapMiB,
      },
    },
    onAzurite: {
      description: `${small.repos} repositories x ${small.manifests} manifests with the real inventory (TableInventoryStore on Azurite 3.35 in memory, spawned) and scans queued; inventoryWrites = storage calls that write manifests, tags or audit rows (a transaction of up to 100 rows is one call) or remove tags`,
      ...onAzurite,
    },
  };
  const file = quick ? "bench/results/sweep-quick.json" : "bench/results/sweep.json";
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

if (process.argv[2] === "--serve-emulator") {
  await serveEmulator(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}
