/**
 * Scan requests processed per minute by one scan worker, with the stand-in trivy and a local
 * Azurite, and how much of each request is our pipeline (queue, lease, table, blob, events) rather
 * than the scanner itself.
 *
 *   npx tsx bench/scanner.ts [requests=40] [dedupeRequests=200]
 *
 * Three measurements in the same run:
 *   - standIn: the stand-in trivy alone through TrivyRunner (spawn, report, `trivy version`), i.e. the
 *     "Trivy" share of a request; a real Trivy takes seconds to minutes instead.
 *   - scans: requests for distinct digests, each scanned and stored (end to end).
 *   - dedupe: requests for digests already scanned (answered "fresh" from the scans table): the
 *     pipeline's cost per request with no scanner at all.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { TableClient } from "@azure/data-tables";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { ScanWorker } from "../scanner/worker.js";
import { encodeQueueMessage } from "../shared/queues/codec.js";
import { ScanRequestSchema } from "../shared/queues/messages.js";
import { acrRefreshTokenCredentials } from "../shared/scanning/scanRunner.js";
import { BlobReportArchive } from "../shared/scanning/store/blobReportArchive.js";
import { StorageScanRequestQueue } from "../shared/scanning/store/scanRequestQueue.js";
import { TableScanStore } from "../shared/scanning/store/tableScanStore.js";
import { TrivyRunner } from "../shared/scanning/trivyRunner.js";
import { FAKE_TRIVY_PATH } from "../test/helpers/fake-trivy/index.js";
import { AzuriteProcess, uniqueName } from "../test/helpers/storage.js";

const requests = Number(process.argv[2] ?? 40);
const dedupeRequests = Number(process.argv[3] ?? 200);
const REGISTRY = "benchmark.azurecr.io";
const REPOSITORY = "bench/fixtures/alpine-39";
const TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJiZW5jaCJ9.YmVuY2gtc2lnbmF0dXJl";

interface CallStats {
  count: number;
  totalMs: number;
}

function digestOf(n: number): string {
  return `sha256:${n.toString(16).padStart(64, "0")}`;
}

async function main(): Promise<void> {
  const azurite = await AzuriteProcess.start();
  const root = await mkdtemp(path.join(tmpdir(), "acr-steward-bench-scanner-"));
  try {
    const connectionString = azurite.connectionString;
    const cacheDir = path.join(root, "cache");
    const runner = new TrivyRunner({ trivyPath: FAKE_TRIVY_PATH, cacheDir, workDir: root });
    await runner.refreshDatabase({ dbRepository: "mirror.example.test/trivy-db:2", includeJavaDb: false });

    const standIn = await measureStandIn(runner, 20);

    const calls = new Map<string, CallStats>();
    const observe = (operation: string, ms: number) => {
      const key = operation.replace(/ (?:from|to|in) \S+$/, "").replace(/^(create table|peek) .*/, "$1");
      const stats = calls.get(key) ?? { count: 0, totalMs: 0 };
      stats.count += 1;
      stats.totalMs += ms;
      calls.set(key, stats);
    };
    const queueName = uniqueName("benchscan");
    const requestClient = new QueueClient(connectionString, queueName);
    const queue = new StorageScanRequestQueue(
      requestClient,
      new QueueClient(connectionString, `${queueName}-poison`),
      {
        onStorageCall: observe,
      },
    );
    const store = new TableScanStore(
      TableClient.fromConnectionString(connectionString, uniqueName("benchscans"), {
        allowInsecureConnection: true,
      }),
      { onStorageCall: observe },
    );
    const archive = new BlobReportArchive(
      BlobServiceClient.fromConnectionString(connectionString).getContainerClient(uniqueName("benchreports")),
      { onStorageCall: observe },
    );
    await Promise.all([queue.ensureQueues(), store.ensureTable(), archive.ensureContainer()]);
    const worker = () =>
      new ScanWorker(
        {
          queue,
          runner,
          credentials: { credentialsFor: async () => acrRefreshTokenCredentials(TOKEN) },
          store,
          archive,
        },
        { allowList: [REGISTRY], freshnessMs: 7 * 86_400_000, scanTimeoutMs: 60_000, batchSize: 4 },
      );
    /** `count` requests cycling over the digests firstDigest .. firstDigest + distinct - 1. */
    const send = async (count: number, firstDigest: number, distinct: number) => {
      for (let i = 0; i < count; i++) {
        await requestClient.sendMessage(
          encodeQueueMessage(ScanRequestSchema, {
            version: 1,
            registry: REGISTRY,
            repository: REPOSITORY,
            digest: digestOf(firstDigest + (i % distinct)),
            reason: "push",
            requestedAt: new Date().toISOString(),
          }),
        );
      }
    };

    await send(requests, 1, requests);
    calls.clear();
    let started = performance.now();
    const scanned = await worker().run();
    const scanWallMs = performance.now() - started;
    const scanCalls = summarize(calls, scanWallMs);

    // Already-scanned digests: the worker answers from the scans table, no Trivy at all.
    await send(dedupeRequests, 1, requests);
    calls.clear();
    started = performance.now();
    const deduped = await worker().run();
    const dedupeWallMs = performance.now() - started;
    const dedupeCalls = summarize(calls, dedupeWallMs);

    const perRequestMs = scanWallMs / requests;
    const overheadMs = perRequestMs - standIn.meanMs;
    const result = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      storage: "Azurite 3.35 (in-memory), spawned on loopback",
      scanner: "stand-in trivy (test/helpers/fake-trivy), replaying alpine-39.json.golden",
      standIn,
      scans: {
        requests,
        outcomes: scanned.outcomes,
        wallSeconds: round(scanWallMs / 1000),
        requestsPerMinute: round((requests / scanWallMs) * 60_000),
        meanMsPerRequest: round(perRequestMs),
        pipelineMsPerRequest: round(overheadMs),
        pipelineOnlyRequestsPerMinute: round(60_000 / Math.max(overheadMs, 1)),
        storage: scanCalls,
      },
      dedupe: {
        requests: dedupeRequests,
        outcomes: deduped.outcomes,
        wallSeconds: round(dedupeWallMs / 1000),
        requestsPerMinute: round((dedupeRequests / dedupeWallMs) * 60_000),
        meanMsPerRequest: round(dedupeWallMs / dedupeRequests),
        storage: dedupeCalls,
      },
      notes: [
        "standIn.meanMs is TrivyRunner.scan with the stand-in (two process spawns: the scan and `trivy version`); pipelineMsPerRequest = scans.meanMsPerRequest - standIn.meanMs.",
        "One worker processes one message at a time (Trivy is the heavy part); a batch of 4 is received and kept invisible together.",
        "With a real Trivy (seconds to minutes per image) the pipeline share is negligible; throughput is then set by Trivy and the number of job executions.",
        "storage.share = time inside storage calls / wall time.",
      ],
    };
    mkdirSync("bench/results", { recursive: true });
    writeFileSync("bench/results/scanner.json", `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));

    function summarize(stats: Map<string, CallStats>, wallMs: number) {
      const totalMs = [...stats.values()].reduce((sum, s) => sum + s.totalMs, 0);
      return {
        calls: [...stats.values()].reduce((sum, s) => sum + s.count, 0),
        totalMs: round(totalMs),
        share: round(totalMs / wallMs),
        byOperation: Object.fromEntries(
          [...stats.entries()]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([operation, s]) => [operation, { count: s.count, meanMs: round(s.totalMs / s.count) }]),
        ),
      };
    }
  } finally {
    await rm(root, { recursive: true, force: true });
    await azurite.stop();
  }
}

async function measureStandIn(runner: TrivyRunner, scans: number) {
  const durations: number[] = [];
  for (let i = 0; i < scans; i++) {
    const started = performance.now();
    const outcome = await runner.scan(
      { registry: REGISTRY, repository: REPOSITORY, digest: digestOf(100_000 + i) },
      acrRefreshTokenCredentials(TOKEN),
      { timeoutMs: 60_000 },
    );
    if (outcome.kind !== "scanned") throw new Error(`stand-in scan failed: ${outcome.reason}`);
    durations.push(performance.now() - started);
  }
  durations.sort((a, b) => a - b);
  return {
    scans,
    meanMs: round(durations.reduce((sum, d) => sum + d, 0) / scans),
    medianMs: round(durations[Math.floor(scans / 2)] ?? 0),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

await main();
