import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../../shared/errors/index.js";
import { decodeQueueMessage, encodeQueueMessage } from "../../../shared/queues/codec.js";
import { scanMarkKey } from "../../../shared/queues/followUp.js";
import { RetentionRequestSchema, ScanRequestSchema } from "../../../shared/queues/messages.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createHarness, digestOf, drainQueue, REGISTRY } from "./harness.js";

let connectionString: string;
beforeAll(async () => {
  connectionString = await getTestStorage();
});
afterAll(stopTestStorage);

const NOW = new Date("2024-06-01T12:00:00Z");
const DAY = 86_400_000;
const target = (n: number) => ({ registry: REGISTRY, repository: "team/app", digest: digestOf(n) });

describe("Class: FollowUpScheduler", () => {
  it("queues one scan per digest and sends a valid, base64-encoded request", async () => {
    const harness = await createHarness(connectionString);
    expect(await harness.followUp.requestScan(target(1), "e1", NOW)).toBe("queued");
    expect(await harness.followUp.requestScan(target(1), "e2", NOW)).toBe("pending");
    expect(await harness.followUp.requestScan(target(2), "e3", NOW)).toBe("queued");

    const raw = await harness.scanQueue.receiveMessages({ numberOfMessages: 32 });
    expect(raw.receivedMessageItems).toHaveLength(2);
    const messages = raw.receivedMessageItems.map((item) =>
      decodeQueueMessage(ScanRequestSchema, item.messageText),
    );
    expect(messages.map((message) => message.digest).sort()).toEqual([digestOf(1), digestOf(2)]);
    expect(messages[0]).toMatchObject({
      version: 1,
      registry: REGISTRY,
      repository: "team/app",
      reason: "push",
    });
    const text = raw.receivedMessageItems[0]?.messageText ?? "";
    expect(text).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("lets exactly one of many concurrent requests for a digest through, within one process", async () => {
    const harness = await createHarness(connectionString);
    const decisions = await Promise.all(
      Array.from({ length: 10 }, (_, i) => harness.followUp.requestScan(target(5), `racer-${i}`, NOW)),
    );
    expect(decisions.filter((decision) => decision === "queued")).toHaveLength(1);
    expect(await drainQueue(harness.scanQueue)).toHaveLength(1);
  });

  it("skips digests scanned recently and re-queues once the freshness window has passed", async () => {
    const scannedAt = new Date(NOW.getTime() - DAY).toISOString();
    const harness = await createHarness(connectionString, {
      scanFreshnessMs: 7 * DAY,
      scanStatus: {
        lastScannedAt: async (_r, _p, digest) => (digest === digestOf(1) ? scannedAt : undefined),
      },
    });
    expect(await harness.followUp.requestScan(target(1), "e1", NOW)).toBe("fresh");
    expect(await harness.followUp.requestScan(target(3), "e2", NOW)).toBe("queued");
    const later = new Date(NOW.getTime() + 8 * DAY);
    expect(await harness.followUp.requestScan(target(3), "e3", later)).toBe("queued");
    expect(await drainQueue(harness.scanQueue)).toHaveLength(2);
  });

  it("says why it asks: push or sweep for a first scan, rescan for a stale one, and the retention trigger", async () => {
    const scannedAt = new Date(NOW.getTime() - 30 * DAY).toISOString();
    const harness = await createHarness(connectionString, {
      scanFreshnessMs: 7 * DAY,
      retentionDebounceMs: 1_000,
      scanStatus: {
        lastScannedAt: async (_r, _p, digest) => (digest === digestOf(22) ? scannedAt : undefined),
      },
    });
    await harness.followUp.requestScan(target(20), "event", NOW);
    await harness.followUp.requestScan({ ...target(21), reason: "sweep" }, "sweep:1", NOW);
    await harness.followUp.requestScan({ ...target(22), reason: "sweep" }, "sweep:1", NOW);
    const scans = (await drainQueue(harness.scanQueue)).map((body) => ScanRequestSchema.parse(body));
    const reasonOf = (n: number) => scans.find((scan) => scan.digest === digestOf(n))?.reason;
    expect([reasonOf(20), reasonOf(21), reasonOf(22)]).toEqual(["push", "sweep", "rescan"]);

    await harness.followUp.requestRetention(
      { registry: REGISTRY, repository: "team/swept", trigger: "sweep" },
      "sweep:1",
      NOW,
    );
    await harness.followUp.requestRetention({ registry: REGISTRY, repository: "team/evented" }, "e1", NOW);
    await new Promise((resolve) => setTimeout(resolve, 2_200)); // the debounce window hides them until then
    const retention = (await drainQueue(harness.retentionQueue)).map((body) =>
      RetentionRequestSchema.parse(body),
    );
    const triggerOf = (repository: string) =>
      retention.find((request) => request.repository === repository)?.trigger;
    expect([triggerOf("team/swept"), triggerOf("team/evented")]).toEqual(["sweep", "event"]);
  });

  it("does not queue again a digest that is marked, by this instance or another", async () => {
    const harness = await createHarness(connectionString);
    expect(await harness.followUp.requestScan(target(4), "e1", NOW)).toBe("queued");
    expect(await harness.followUp.requestScan(target(4), "e1", NOW)).toBe("pending");
    expect(await drainQueue(harness.scanQueue)).toHaveLength(1);

    // Another instance marked digest 6 (queued it) a moment ago: this instance has never seen the mark.
    const at = NOW.toISOString();
    await harness.marks.put(
      scanMarkKey(digestOf(6)),
      { claimedBy: "e7", queuedAt: at, dueAt: at },
      undefined,
    );
    expect(await harness.followUp.requestScan(target(6), "e8", NOW)).toBe("pending");
    expect(await drainQueue(harness.scanQueue)).toEqual([]);
  });

  it("debounces retention: one delayed request per repository per window", async () => {
    const harness = await createHarness(connectionString, { retentionDebounceMs: 2_000 });
    const repository = { registry: REGISTRY, repository: "team/app" };
    const other = { registry: REGISTRY, repository: "team/other" };
    expect(await harness.followUp.requestRetention(repository, "e1", NOW)).toBe("queued");
    expect(await harness.followUp.requestRetention(repository, "e2", new Date(NOW.getTime() + 500))).toBe(
      "pending",
    );
    expect(await harness.followUp.requestRetention(other, "e3", NOW)).toBe("queued");
    // Hidden during the window, so the burst's later events are in the inventory when it runs.
    expect(
      (await harness.retentionQueue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems,
    ).toHaveLength(0);

    const afterWindow = new Date(NOW.getTime() + 2_001);
    expect(await harness.followUp.requestRetention(repository, "e4", afterWindow)).toBe("queued");

    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const messages = (await drainQueue(harness.retentionQueue)).map((body) =>
      decodeQueueMessage(RetentionRequestSchema, body),
    );
    expect(messages.map((message) => message.repository).sort()).toEqual([
      "team/app",
      "team/app",
      "team/other",
    ]);
    expect(messages.every((message) => message.trigger === "event" && message.version === 1)).toBe(true);
  });
});

describe("queue message codec", () => {
  const request = {
    version: 1 as const,
    registry: REGISTRY,
    repository: "team/app",
    digest: digestOf(1),
    reason: "push" as const,
    requestedAt: NOW.toISOString(),
  };

  it("round-trips through base64 JSON, JSON text and parsed objects", () => {
    const encoded = encodeQueueMessage(ScanRequestSchema, request);
    expect(JSON.parse(Buffer.from(encoded, "base64").toString("utf8"))).toEqual(request);
    expect(decodeQueueMessage(ScanRequestSchema, encoded)).toEqual(request);
    expect(decodeQueueMessage(ScanRequestSchema, JSON.stringify(request))).toEqual(request);
    expect(decodeQueueMessage(ScanRequestSchema, request)).toEqual(request);
  });

  it("refuses to send or accept a message that breaks its schema, naming the field", () => {
    expect(() => encodeQueueMessage(ScanRequestSchema, { ...request, digest: "sha256:nothex" })).toThrow(
      ValidationError,
    );
    expect(() => decodeQueueMessage(ScanRequestSchema, { ...request, version: 2 })).toThrow(/version/);
    expect(() => decodeQueueMessage(ScanRequestSchema, "%%%")).toThrow(ValidationError);
  });
});
