import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ScanRecord } from "../../../shared/scanning/store/scanRecord.js";
import { MAX_JSON_PROPERTY_CHARS } from "../../../shared/scanning/store/tableScanStore.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createHarness, digestOf, type Harness, REGISTRY } from "./harness.js";

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

const zero = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };

function record(overrides: Partial<ScanRecord> = {}): ScanRecord {
  return {
    scanId: "scan-1",
    registry: REGISTRY,
    repository: "team/app",
    digest: digestOf(100),
    status: "completed",
    scannedAt: "2026-11-01T10:00:00.000Z",
    findings: { ...zero, HIGH: 2 },
    findingsTotal: 2,
    unique: { ...zero, HIGH: 1 },
    uniqueTotal: 1,
    fixable: 1,
    unfixable: 1,
    highest: "HIGH",
    secrets: 0,
    misconfigurations: 0,
    os: { family: "debian", name: "12.1", endOfLife: false },
    endOfLife: false,
    scanner: { trivyVersion: "0.74.0", dbVersion: 2 },
    worst: [],
    platforms: [],
    reportBlobs: [`${digestOf(100)}/scan-1.json.gz`],
    ...overrides,
  };
}

describe("scans table", () => {
  it("round-trips a record as the latest row and a history row", async () => {
    const stored = record();
    await h.store.record(stored);
    expect(await h.store.latest(stored.digest)).toEqual(stored);
    expect(await h.store.history(stored.digest)).toEqual([stored]);
  });

  it("keeps history newest first, and a failed rescan does not hide the last good result", async () => {
    const digest = digestOf(101);
    await h.store.record(record({ digest, scanId: "a", scannedAt: "2026-11-01T10:00:00.000Z" }));
    await h.store.record(record({ digest, scanId: "b", scannedAt: "2026-11-02T10:00:00.000Z" }));
    await h.store.record(
      record({
        digest,
        scanId: "c",
        scannedAt: "2026-11-03T10:00:00.000Z",
        status: "failed",
        failure: "timeout",
        reason: "deadline",
        findings: zero,
        findingsTotal: 0,
        highest: null,
      }),
    );
    // An older result arriving late (a slow worker) does not replace the newer one either.
    await h.store.record(record({ digest, scanId: "old", scannedAt: "2026-10-01T10:00:00.000Z" }));
    expect((await h.store.history(digest)).map((row) => row.scanId)).toEqual(["c", "b", "a", "old"]);
    expect((await h.store.latest(digest))?.scanId).toBe("b");
    expect(await h.store.lastScannedAt(REGISTRY, "team/app", digest)).toBe("2026-11-02T10:00:00.000Z");
  });

  it("lists latest rows filtered by severity and repository", async () => {
    await h.store.record(record({ digest: digestOf(102), repository: "team/a", highest: "CRITICAL" }));
    await h.store.record(record({ digest: digestOf(103), repository: "team/b", highest: "LOW" }));
    await h.store.record(record({ digest: digestOf(104), repository: "team/b", highest: null }));
    const high = await h.store.list({ minSeverity: "HIGH" });
    expect(high.map((row) => row.repository)).toEqual(["team/a"]);
    const b = await h.store.list({ repository: "team/b" });
    expect(b.map((row) => row.digest).sort()).toEqual([digestOf(103), digestOf(104)]);
    expect(await h.store.list()).toHaveLength(3);
  });

  it("bounds the worst findings so a huge report still fits in one entity", async () => {
    const worst = Array.from({ length: 2000 }, (_, i) => ({
      vulnerabilityId: `CVE-2026-${String(i).padStart(5, "0")}`,
      severity: "CRITICAL" as const,
      pkgName: "x".repeat(40),
      title: "t".repeat(200),
    }));
    const stored = record({ digest: digestOf(105), worst });
    await h.store.record(stored);
    const back = await h.store.latest(stored.digest);
    expect(back?.worst.length).toBeGreaterThan(10);
    expect(back?.worst.length).toBeLessThan(worst.length);
    expect(back?.worst).toEqual(worst.slice(0, back?.worst.length));
    expect(JSON.stringify(back?.worst).length).toBeLessThanOrEqual(MAX_JSON_PROPERTY_CHARS);
  });

  it("grants a digest lease to one worker at a time, and again once it expires or is released", async () => {
    const digest = digestOf(106);
    const now = new Date("2026-11-01T10:00:00Z");
    expect(await h.store.claim(digest, "w1", now, 60_000)).toBe(true);
    expect(await h.store.claim(digest, "w2", now, 60_000)).toBe(false);
    expect(await h.store.claim(digest, "w1", now, 60_000)).toBe(true);
    expect(await h.store.claim(digest, "w2", new Date(now.getTime() + 61_000), 60_000)).toBe(true);
    await h.store.release(digest, "w1");
    expect(await h.store.claim(digest, "w1", now, 60_000)).toBe(false);
    await h.store.release(digest, "w2");
    expect(await h.store.claim(digest, "w1", now, 60_000)).toBe(true);
    // Leases are not results.
    expect(await h.store.latest(digest)).toBeUndefined();
    expect(await h.store.history(digest)).toEqual([]);
  });
});

describe("report archive", () => {
  it("stores the report gzipped under <digest>/<scanId>.json.gz", async () => {
    const json = JSON.stringify({ SchemaVersion: 2, Results: [] });
    const name = await h.archive.putReportAs(
      {
        registry: REGISTRY,
        repository: "team/app",
        digest: digestOf(107),
        platform: "linux/arm64/v8",
        scannedAt: "2026-11-01T10:00:00.000Z",
        reportJson: json,
      },
      "scan-7",
    );
    expect(name).toBe(`${digestOf(107)}/scan-7.json.gz`);
    const raw = await h.container.getBlockBlobClient(name).downloadToBuffer();
    expect(gunzipSync(raw).toString("utf8")).toBe(json);
    expect(await h.archive.readReport(name)).toBe(json);
  });
});
