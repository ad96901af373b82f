import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ScanRequestSchema } from "../../../shared/queues/messages.js";
import { decodePoisonRecord, type PoisonRecord } from "../../../shared/scanning/store/poisonRecord.js";
import { readFakeTrivyCalls } from "../../helpers/fake-trivy/index.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createHarness, digestOf, type Harness, REGISTRY, storedText, TOKEN } from "./harness.js";

let connectionString: string;
let h: Harness;

beforeAll(async () => {
  connectionString = await getTestStorage();
}, 60_000);
afterAll(async () => {
  await stopTestStorage();
});
beforeEach(async () => {
  h = await createHarness(connectionString);
});
afterEach(async () => {
  await h.close();
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function visibleCount(harness: Harness): Promise<number> {
  return (await harness.requests.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length;
}

async function poisonRecords(harness: Harness): Promise<PoisonRecord[]> {
  const peeked = await harness.poisonQueue.peekMessages({ numberOfMessages: 32 });
  return peeked.peekedMessageItems.map((item) => decodePoisonRecord(item.messageText));
}

async function approximateCount(harness: Harness): Promise<number> {
  return (await harness.requests.getProperties()).approximateMessagesCount ?? -1;
}

function imageScans(calls: Awaited<ReturnType<typeof readFakeTrivyCalls>>) {
  return calls.filter(
    (call) => call.command === "image" && !call.argv.some((a) => a.startsWith("--download")),
  );
}

describe("scan worker against Azurite and the stand-in trivy", () => {
  it("scans a request, stores the row, history and gzipped report, deletes the message and exits", async () => {
    const digest = digestOf(1);
    await h.send({ repository: "team/fixtures/alpine-39", digest });
    const report = await h.worker().run();

    expect(report.ended).toBe("drained");
    expect(report.databaseRefresh).toBe("refreshed");
    expect(report.outcomes.completed).toBe(1);
    expect(await approximateCount(h)).toBe(0);
    expect(await poisonRecords(h)).toEqual([]);

    const latest = await h.store.latest(digest);
    expect(latest).toMatchObject({
      status: "completed",
      registry: REGISTRY,
      repository: "team/fixtures/alpine-39",
      findings: { CRITICAL: 2, HIGH: 0, MEDIUM: 4, LOW: 0, UNKNOWN: 0 },
      findingsTotal: 6,
      uniqueTotal: 3,
      highest: "CRITICAL",
      endOfLife: true,
      os: { family: "alpine", endOfLife: true },
    });
    expect(latest?.scanner.trivyVersion).toBeTruthy();
    expect(latest?.worst.length).toBeGreaterThan(0);
    expect(latest?.reportBlobs).toEqual([`${digest}/${latest?.scanId}.json.gz`]);
    const history = await h.store.history(digest);
    expect(history.map((row) => row.scanId)).toEqual([latest?.scanId]);

    const blob = await h.archive.readReport(latest?.reportBlobs[0] ?? "");
    expect(JSON.parse(blob).SchemaVersion).toBe(2);
    const properties = await h.container.getBlockBlobClient(latest?.reportBlobs[0] ?? "").getProperties();
    expect(properties.contentEncoding).toBe("gzip");
    expect(await h.store.lastScannedAt(REGISTRY, "anything", digest)).toBe(latest?.scannedAt);
  });

  it("scans a digest requested under two repositories once, and not again within the window", async () => {
    const record = path.join(h.cacheDir, "..", "calls.jsonl");
    const digest = digestOf(2);
    await h.send({ repository: "team/fixtures/debian-buster", digest });
    await h.send({ repository: "mirror/fixtures/debian-buster", digest });
    const first = await h.worker({}, { trivyEnv: { FAKE_TRIVY_RECORD: record } }).run();
    expect(first.outcomes).toMatchObject({ completed: 1, fresh: 1, retry: 0, poisoned: 0 });
    expect(imageScans(await readFakeTrivyCalls(record))).toHaveLength(1);

    await h.send({ repository: "other/fixtures/debian-buster", digest, reason: "sweep" });
    const second = await h.worker({}, { trivyEnv: { FAKE_TRIVY_RECORD: record } }).run();
    expect(second.outcomes).toMatchObject({ completed: 0, fresh: 1 });
    expect(imageScans(await readFakeTrivyCalls(record))).toHaveLength(1);
    expect(await approximateCount(h)).toBe(0);

    // Past the window it is scanned again.
    await h.send({ repository: "other/fixtures/debian-buster", digest, reason: "rescan" });
    const later = new Date(Date.now() + 8 * 86_400_000);
    const third = await h.worker({}, { now: () => later, trivyEnv: { FAKE_TRIVY_RECORD: record } }).run();
    expect(third.outcomes.completed).toBe(1);
    expect(await h.store.history(digest)).toHaveLength(2);
  });

  it("records a gone image as skipped, deletes the message and does not retry it", async () => {
    const digest = digestOf(3);
    await h.send({ repository: "team/errors/not-found", digest });
    const report = await h.worker().run();
    expect(report.outcomes).toMatchObject({ skipped: 1, retry: 0, poisoned: 0 });
    expect(await approximateCount(h)).toBe(0);
    expect(await poisonRecords(h)).toEqual([]);
    expect(await h.store.latest(digest)).toMatchObject({ status: "skipped", findingsTotal: 0 });
    expect((await h.store.latest(digest))?.reason).toMatch(/MANIFEST_UNKNOWN/);
  });

  it("retries a retryable failure with back-off, then poisons it with the reason after N attempts", async () => {
    const digest = digestOf(4);
    await h.send({ repository: "team/errors/timeout", digest });
    const report = await h.worker({ maxDequeueCount: 3 }).run();
    expect(report.outcomes).toMatchObject({ retry: 2, poisoned: 1, completed: 0 });
    expect(await approximateCount(h)).toBe(0);
    const [poisoned, ...rest] = await poisonRecords(h);
    expect(rest).toEqual([]);
    expect(poisoned).toMatchObject({ kind: "timeout", dequeueCount: 3, queue: h.requests.name });
    expect(poisoned?.reason).toMatch(/context deadline exceeded/);
    expect(ScanRequestSchema.parse(poisoned?.body)).toMatchObject({
      digest,
      repository: "team/errors/timeout",
    });
    expect(await h.store.latest(digest)).toMatchObject({ status: "failed", failure: "timeout" });
  });

  it("leaves the message invisible for the back-off when attempts remain", async () => {
    await h.send({ repository: "team/errors/crashed-not-a-mode-so-panic", digest: digestOf(5) });
    await h.send({ repository: "team/errors/panic", digest: digestOf(6) });
    const report = await h.worker({ retryBaseMs: 30_000 }).run();
    // The unknown mode is a usage error (exit 1, scan-error); the panic a crash: both retryable.
    expect(report.outcomes).toMatchObject({ retry: 2, poisoned: 0 });
    expect(await visibleCount(h)).toBe(0);
    expect(await approximateCount(h)).toBe(2);
  });

  it("poisons invalid messages and requests for registries outside the allow-list without minting", async () => {
    await h.requests.sendMessage(Buffer.from('{"version":2,"digest":"nope"}').toString("base64"));
    await h.requests.sendMessage("not json at all");
    await h.send({
      registry: "evil.example.com",
      repository: "team/fixtures/alpine-39",
      digest: digestOf(7),
    });
    const report = await h.worker().run();
    expect(report.outcomes).toMatchObject({ poisoned: 3, completed: 0 });
    expect(h.credentials.calls).toEqual([]);
    const kinds = (await poisonRecords(h)).map((record) => record.kind).sort();
    expect(kinds).toEqual(["invalid-message", "invalid-message", "registry-not-allowed"]);
    expect(await approximateCount(h)).toBe(0);
  });

  it("a message whose worker died mid-scan reappears and is scanned by the next worker", async () => {
    const digest = digestOf(8);
    await h.send({ repository: "team/fixtures/ubuntu-1804", digest });
    // A worker took it and died before deleting: nothing else happens to the message.
    const taken = await h.requests.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 1 });
    expect(taken.receivedMessageItems).toHaveLength(1);
    const meanwhile = await h.worker().run();
    expect(meanwhile.messages).toBe(0);
    expect(await approximateCount(h)).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 1500));
    const report = await h.worker().run();
    expect(report.outcomes.completed).toBe(1);
    expect(await h.store.latest(digest)).toMatchObject({ status: "completed", findingsTotal: 5 });
    expect(await approximateCount(h)).toBe(0);
  });

  it("keeps a long scan's message invisible past its visibility timeout, then deletes it", async () => {
    const digest = digestOf(9);
    await h.send({ repository: "team/errors/slow", digest });
    const worker = h.worker(
      { visibilityTimeoutMs: 1000, renewEveryMs: 300 },
      { trivyEnv: { FAKE_TRIVY_SLEEP_MS: "2500", FAKE_TRIVY_FIXTURE: "alpine-39" } },
    );
    const running = worker.run();
    await until(() => h.logLines.some((line) => line.includes("scan started")));
    await new Promise((resolve) => setTimeout(resolve, 1600));
    // Well past the 1 s timeout: renewed, so no other worker can take it.
    expect(await visibleCount(h)).toBe(0);
    expect((await h.requests.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems).toEqual([]);
    const report = await running;
    expect(report.outcomes.completed).toBe(1);
    expect(await approximateCount(h)).toBe(0);
  });

  it("on stop, finishes the running scan and gives the rest of the batch back", async () => {
    await h.send({ repository: "team/errors/slow", digest: digestOf(10) });
    await h.send({ repository: "team/fixtures/alpine-39", digest: digestOf(11) });
    const worker = h.worker(
      { batchSize: 2 },
      { trivyEnv: { FAKE_TRIVY_SLEEP_MS: "800", FAKE_TRIVY_FIXTURE: "alpine-39" } },
    );
    const running = worker.run();
    await until(() => h.logLines.some((line) => line.includes("scan started")));
    worker.stop();
    const report = await running;
    expect(report.ended).toBe("stopped");
    expect(report.outcomes).toMatchObject({ completed: 1, released: 1 });
    expect(await visibleCount(h)).toBe(1);
  });

  it("on abandon, cancels the scan and the message is visible again at once", async () => {
    await h.send({ repository: "team/errors/slow", digest: digestOf(12) });
    const worker = h.worker({}, { trivyEnv: { FAKE_TRIVY_SLEEP_MS: "20000" } });
    const running = worker.run();
    await until(() => h.logLines.some((line) => line.includes("scan started")));
    worker.abandon();
    const report = await running;
    expect(report.outcomes).toMatchObject({ released: 1, completed: 0 });
    expect(await visibleCount(h)).toBe(1);
    expect(await h.store.latest(digestOf(12))).toBeUndefined();
  });

  it("never lets the registry token reach logs, rows, blobs or the poison queue", async () => {
    await h.send({ repository: "team/errors/leak-password-report", digest: digestOf(13) });
    await h.send({ repository: "team/errors/leak-password", digest: digestOf(14) });
    const report = await h
      .worker({ maxDequeueCount: 1 }, { trivyEnv: { FAKE_TRIVY_FIXTURE: "alpine-39" } })
      .run();
    expect(report.outcomes).toMatchObject({ completed: 1, poisoned: 1 });
    const basic = Buffer.from(`00000000-0000-0000-0000-000000000000:${TOKEN}`).toString("base64");
    const everything = `${await storedText(h)}\n${h.logLines.join("\n")}`;
    expect(everything).toContain("scan stored");
    expect(everything).toContain("UNAUTHORIZED");
    for (const secret of [TOKEN, basic, TOKEN.split(".")[2] ?? TOKEN])
      expect(everything).not.toContain(secret);
  });

  it("runs the DB refresh without credentials before the first scan, and not at all for an empty queue", async () => {
    const record = path.join(h.cacheDir, "..", "calls.jsonl");
    const idle = await h.worker({}, { trivyEnv: { FAKE_TRIVY_RECORD: record } }).run();
    expect(idle.databaseRefresh).toBe("not-needed");
    expect(await readFakeTrivyCalls(record)).toEqual([]);

    await h.send({ repository: "team/fixtures/alpine-39", digest: digestOf(15) });
    await h.worker({}, { trivyEnv: { FAKE_TRIVY_RECORD: record } }).run();
    const calls = await readFakeTrivyCalls(record);
    const refreshIndex = calls.findIndex((call) => call.argv.includes("--download-db-only"));
    const scanIndex = calls.findIndex((call) => imageScans([call]).length === 1);
    expect(refreshIndex).toBeGreaterThanOrEqual(0);
    expect(refreshIndex).toBeLessThan(scanIndex);
    expect(calls[refreshIndex]?.credentials).toMatchObject({ username: false, password: false });
    expect(calls[scanIndex]?.credentials).toMatchObject({ password: true, usernameIsAcrTokenUser: true });
    expect(JSON.parse(await readFile(path.join(h.cacheDir, "db", "metadata.json"), "utf8"))).toHaveProperty(
      "UpdatedAt",
    );
  });
});
