import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestEvents } from "../../../shared/ingest/ingestEvents.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createHarness, drainQueue } from "./harness.js";
import { computeTruth, generateStorm, randomGenerator, readInventory } from "./storm.js";

let connectionString: string;
beforeAll(async () => {
  connectionString = await getTestStorage();
});
afterAll(stopTestStorage);

describe("event storm", () => {
  it("10,000 events with 20 % duplicates, shuffled, end in exactly the final truth", async () => {
    const storm = generateStorm({
      uniqueEvents: 8_000,
      duplicateShare: 0.2,
      seed: 20240301,
      // Few rows, many events each: every digest sees dozens of pushes, deletes and re-pushes.
      repositories: 20,
      digestsPerRepository: 15,
      tagsPerRepository: 6,
    });
    expect(storm.delivered).toHaveLength(10_000);
    const harness = await createHarness(connectionString);
    const now = new Date("2024-03-02T00:00:00Z");

    // Deliveries from single events (queue messages) to batches of hundreds (webhook batches,
    // replayed dead letters), by three inventory instances at once (three Functions instances),
    // so that batches race for the same rows and only ETags keep them apart.
    const random = randomGenerator(7);
    const batches: (typeof storm.delivered)[] = [];
    for (let start = 0; start < storm.delivered.length; ) {
      const size = random() < 0.3 ? 1 + Math.floor(random() * 4) : 1 + Math.floor(random() * 600);
      batches.push(storm.delivered.slice(start, start + size));
      start += size;
    }
    let next = 0;
    let errors = 0;
    let scansQueued = 0;
    await Promise.all(
      [harness.inventory, harness.twin(), harness.twin()].map(async (inventory) => {
        while (next < batches.length) {
          const batch = batches[next++] ?? [];
          const report = await ingestEvents(batch, { inventory, followUp: harness.followUp }, now);
          errors += report.errors.length;
          scansQueued += report.scansQueued;
        }
      }),
    );
    expect(errors).toBe(0);

    const truth = computeTruth(storm.history);
    const repositories = new Set(storm.history.map((event) => `${event.registry}/${event.repository}`));
    const actual = await readInventory(harness.inventory, repositories);
    expect(actual.manifests.size).toBe(truth.manifests.size);
    expect(new Map([...actual.manifests].sort())).toEqual(new Map([...truth.manifests].sort()));
    expect(new Map([...actual.tags].sort())).toEqual(new Map([...truth.tags].sort()));

    // At most one scan per digest, and every image present at the end among them. (A push arriving
    // after its delete never makes the image present, so whether a later-deleted digest gets a scan
    // depends on the delivery order.)
    const scanned = (await drainQueue(harness.scanQueue)).map(
      (message) => (message as { digest: string }).digest,
    );
    expect(new Set(scanned).size).toBe(scanned.length);
    expect(scansQueued).toBe(scanned.length);
    for (const [key, state] of truth.manifests) {
      if (state === "present") expect(scanned).toContain(key.split("@")[1]);
    }
    const pushedRepositories = new Set(
      storm.history.filter((e) => e.kind === "push").map((e) => `${e.registry}/${e.repository}`),
    );
    const retention = await harness.retentionQueue.getProperties();
    expect(retention.approximateMessagesCount).toBe(pushedRepositories.size);
  }, 240_000);
});
