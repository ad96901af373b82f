/**
 * Events per second through the ingest path (inventory + follow-up queues) against a local Azurite,
 * and the share of that time spent waiting for storage calls.
 *
 *   npx tsx bench/ingest.ts [uniqueEvents=4000] [concurrency=8]
 *
 * Baseline, measured in the same run against the same Azurite: plain sequential table upserts per
 * second, i.e. what one storage round trip costs on this machine.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { ingestEvents } from "../shared/ingest/ingestEvents.js";
import { createTableClient } from "../shared/inventory/tableClients.js";
import { AzuriteProcess, uniqueName } from "../test/helpers/storage.js";
import { createHarness } from "../test/integration/inventory/harness.js";
import { generateStorm } from "../test/integration/inventory/storm.js";

interface CallStats {
  count: number;
  totalMs: number;
}

const uniqueEvents = Number(process.argv[2] ?? 4000);
const concurrency = Number(process.argv[3] ?? 8);

async function main(): Promise<void> {
  const azurite = await AzuriteProcess.start();
  try {
    const baseline = await measureBaseline(azurite.connectionString, 1000);
    const sequential = await measureIngest(azurite.connectionString, Math.min(uniqueEvents, 1500), 1, 11);
    const concurrent = await measureIngest(azurite.connectionString, uniqueEvents, concurrency, 12);
    const batched = await measureIngest(azurite.connectionString, uniqueEvents, 2, 13, 100);
    const result = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      storage: "Azurite 3.35 (in-memory), spawned on loopback",
      baseline,
      sequential,
      concurrent,
      batched,
      notes: [
        "sequential/concurrent: each delivery is one queue message holding one event, as Event Grid → queue delivers them.",
        "batched: deliveries of 100 events (webhook batches, replayed dead letters): shared reads and table transactions.",
        "20 % of deliveries are duplicates; the order is shuffled.",
        "storageShare = time spent inside storage calls / wall time, for the one-at-a-time run (null where calls overlap).",
      ],
    };
    mkdirSync("bench/results", { recursive: true });
    writeFileSync("bench/results/ingest.json", `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await azurite.stop();
  }
}

async function measureBaseline(connectionString: string, writes: number) {
  const table = createTableClient({ kind: "connectionString", connectionString }, uniqueName("baseline"));
  await table.createTable();
  const started = performance.now();
  for (let i = 0; i < writes; i++) {
    await table.upsertEntity({ partitionKey: `p${i % 50}`, rowKey: `r${i}`, value: i }, "Replace");
  }
  const seconds = (performance.now() - started) / 1000;
  return { sequentialUpsertsPerSecond: round(writes / seconds) };
}

async function measureIngest(
  connectionString: string,
  unique: number,
  workers: number,
  seed: number,
  batchSize = 1,
) {
  const calls = new Map<string, CallStats>();
  const harness = await createHarness(connectionString, {
    onStorageCall: (operation, ms) => {
      const key = operation.replace(/ to [a-z0-9]+$/, "");
      const stats = calls.get(key) ?? { count: 0, totalMs: 0 };
      stats.count++;
      stats.totalMs += ms;
      calls.set(key, stats);
    },
  });
  calls.clear();
  const storm = generateStorm({ uniqueEvents: unique, duplicateShare: 0.2, seed });
  const now = new Date("2024-03-02T00:00:00Z");
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < storm.delivered.length) {
        const batch = storm.delivered.slice(next, next + batchSize);
        next += batchSize;
        await ingestEvents(batch, { inventory: harness.inventory, followUp: harness.followUp }, now);
      }
    }),
  );
  const wallMs = performance.now() - started;
  const storageMs = [...calls.values()].reduce((sum, stats) => sum + stats.totalMs, 0);
  const storageCalls = [...calls.values()].reduce((sum, stats) => sum + stats.count, 0);
  return {
    events: storm.delivered.length,
    eventsPerDelivery: batchSize,
    concurrency: workers,
    wallSeconds: round(wallMs / 1000),
    eventsPerSecond: round(storm.delivered.length / (wallMs / 1000)),
    storageCalls,
    storageCallsPerEvent: round(storageCalls / storm.delivered.length),
    // With parallel work inside a delivery (partitions, follow-ups), call times overlap: a share of
    // wall time is only defined for the one-at-a-time run.
    storageShare: workers === 1 && batchSize === 1 ? round(storageMs / wallMs) : null,
    storageMsPerEvent: round(storageMs / storm.delivered.length),
    byOperation: Object.fromEntries(
      [...calls].map(([operation, stats]) => [
        operation,
        { count: stats.count, meanMs: round(stats.totalMs / stats.count) },
      ]),
    ),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

await main();
