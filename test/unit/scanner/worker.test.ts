import { beforeAll, describe, expect, it } from "vitest";
import { ScanWorker, type ScanWorkerDependencies } from "../../../scanner/worker.js";
import { UnavailableError } from "../../../shared/errors/index.js";
import { encodeQueueMessage } from "../../../shared/queues/codec.js";
import { ScanRequestSchema } from "../../../shared/queues/messages.js";
import type { ScanEventPublisher } from "../../../shared/scanning/events/index.js";
import type { ArchivedReport } from "../../../shared/scanning/ports.js";
import type { ScanOutcome, ScanRunner, ScanTarget } from "../../../shared/scanning/scanRunner.js";
import type { PoisonRecord } from "../../../shared/scanning/store/poisonRecord.js";
import type { ScanRecord } from "../../../shared/scanning/store/scanRecord.js";
import type { ReceivedMessage, ScanRequestQueue } from "../../../shared/scanning/store/scanRequestQueue.js";
import type { ScanLeases, ScanStore } from "../../../shared/scanning/store/tableScanStore.js";
import { parseTrivyReportJson } from "../../../shared/scanning/trivyReport.js";
import { readFixture } from "../../helpers/fake-trivy/index.js";

/** Worker decisions that are hard to provoke with real storage: storage failures, a busy lease. */

const REGISTRY = "myregistry.azurecr.io";
const DIGEST = `sha256:${"d".repeat(64)}`;
let reportJson: string;

beforeAll(async () => {
  reportJson = await readFixture("alpine-39");
});

class MemoryQueue implements ScanRequestQueue {
  readonly name = "scan-requests";
  readonly poisonName = "scan-requests-poison";
  readonly messages: { message: ReceivedMessage; visibleAt: number; deleted: boolean; count: number }[] = [];
  readonly poisoned: PoisonRecord[] = [];
  readonly visibilityCalls: number[] = [];
  #receipt = 0;

  add(text: string): void {
    this.messages.push({
      message: { messageId: `m${this.messages.length}`, popReceipt: "r0", dequeueCount: 0, text },
      visibleAt: 0,
      deleted: false,
      count: 0,
    });
  }
  #visible() {
    return this.messages.filter((m) => !m.deleted && m.visibleAt <= Date.now());
  }
  async receive(count: number, seconds: number): Promise<ReceivedMessage[]> {
    return this.#visible()
      .slice(0, count)
      .map((entry) => {
        entry.count += 1;
        entry.visibleAt = Date.now() + seconds * 1000;
        entry.message = { ...entry.message, dequeueCount: entry.count, popReceipt: `r${++this.#receipt}` };
        return entry.message;
      });
  }
  async setVisibility(message: ReceivedMessage, seconds: number): Promise<void> {
    const entry = this.messages.find((m) => m.message.messageId === message.messageId);
    if (entry === undefined || entry.message.popReceipt !== message.popReceipt) throw new Error("404");
    this.visibilityCalls.push(seconds);
    entry.visibleAt = Date.now() + seconds * 1000;
    message.popReceipt = `r${++this.#receipt}`;
    entry.message = message;
  }
  async delete(message: ReceivedMessage): Promise<boolean> {
    const entry = this.messages.find((m) => m.message.messageId === message.messageId);
    if (entry === undefined || entry.message.popReceipt !== message.popReceipt) return false;
    entry.deleted = true;
    return true;
  }
  async poison(record: PoisonRecord): Promise<void> {
    this.poisoned.push(record);
  }
  async hasVisibleMessages(): Promise<boolean> {
    return this.#visible().length > 0;
  }
}

class MemoryStore implements ScanStore, ScanLeases {
  readonly records: ScanRecord[] = [];
  failRecord = 0;
  leaseOwner: string | undefined;
  async record(record: ScanRecord): Promise<void> {
    if (this.failRecord > 0) {
      this.failRecord -= 1;
      throw new UnavailableError("record scan: storage answered 503");
    }
    this.records.push(record);
  }
  async latest(digest: string): Promise<ScanRecord | undefined> {
    return this.records.filter((r) => r.digest === digest).at(-1);
  }
  async history(digest: string): Promise<ScanRecord[]> {
    return this.records.filter((r) => r.digest === digest).reverse();
  }
  async list(): Promise<ScanRecord[]> {
    return this.records;
  }
  async claim(_digest: string, owner: string): Promise<boolean> {
    if (this.leaseOwner !== undefined && this.leaseOwner !== owner) return false;
    this.leaseOwner = owner;
    return true;
  }
  async release(_digest: string, owner: string): Promise<void> {
    if (this.leaseOwner === owner) this.leaseOwner = undefined;
  }
}

const runner: ScanRunner = {
  async scan(target: ScanTarget): Promise<ScanOutcome> {
    return {
      kind: "scanned",
      target,
      report: parseTrivyReportJson(reportJson),
      reportJson,
      scanner: undefined,
      durationMs: 1,
    };
  },
};

function setup(overrides: Partial<ScanWorkerDependencies> = {}) {
  const queue = new MemoryQueue();
  const store = new MemoryStore();
  const archived: ArchivedReport[] = [];
  queue.add(
    encodeQueueMessage(ScanRequestSchema, {
      version: 1,
      registry: REGISTRY,
      repository: "team/app",
      digest: DIGEST,
      reason: "push",
      requestedAt: "2026-11-01T00:00:00Z",
    }),
  );
  const worker = (maxDequeueCount = 3) =>
    new ScanWorker(
      {
        queue,
        runner,
        credentials: { credentialsFor: async () => null },
        store,
        archive: {
          putReportAs: async (report, scanId) => {
            archived.push(report);
            return `${report.digest}/${scanId}.json.gz`;
          },
        },
        ...overrides,
      },
      {
        allowList: [REGISTRY],
        freshnessMs: 86_400_000,
        scanTimeoutMs: 1000,
        retryBaseMs: 0,
        busyRetryMs: 60_000,
        maxDequeueCount,
        workerId: "me",
      },
    );
  return { queue, store, archived, worker };
}

describe("scan worker decisions", () => {
  it("retries when storing the result fails, and succeeds on the next delivery", async () => {
    const { queue, store, worker } = setup();
    store.failRecord = 1;
    const report = await worker().run();
    expect(report.outcomes).toMatchObject({ retry: 1, completed: 1 });
    expect(store.records).toHaveLength(1);
    expect(queue.messages[0]?.deleted).toBe(true);
    expect(queue.poisoned).toEqual([]);
  });

  it("poisons as storage-failed when storing never works", async () => {
    const { queue, store, worker } = setup();
    store.failRecord = 100;
    const report = await worker(2).run();
    expect(report.outcomes).toMatchObject({ retry: 1, poisoned: 1 });
    expect(queue.poisoned[0]).toMatchObject({ kind: "storage-failed", dequeueCount: 2 });
    expect(queue.poisoned[0]?.reason).toMatch(/503/);
  });

  it("does not fail a stored scan because the event could not be published", async () => {
    const events: ScanEventPublisher = { publishScanCompleted: async () => false };
    const { queue, store, worker } = setup({ events });
    const report = await worker().run();
    expect(report.outcomes.completed).toBe(1);
    expect(store.records[0]?.status).toBe("completed");
    expect(queue.messages[0]?.deleted).toBe(true);
  });

  it("gives the message back for a while when another worker holds the digest", async () => {
    const { queue, store, worker } = setup();
    store.leaseOwner = "someone else";
    const report = await worker().run();
    expect(report.outcomes).toMatchObject({ busy: 1, completed: 0 });
    expect(queue.visibilityCalls).toEqual([60]);
    expect(queue.messages[0]?.deleted).toBe(false);
  });

  it("keeps going when reading the scans table fails unexpectedly", async () => {
    const { queue, store, worker } = setup();
    let failures = 1;
    const latest = store.latest.bind(store);
    store.latest = async (digest: string) => {
      if (failures-- > 0) throw new UnavailableError("read latest scan: storage unreachable");
      return latest(digest);
    };
    const report = await worker().run();
    expect(report.outcomes).toMatchObject({ retry: 1, completed: 1 });
    expect(queue.messages[0]?.deleted).toBe(true);
  });
});
