import { describe, expect, it } from "vitest";
import { platformChildren } from "../../../shared/scanning/platforms.js";
import {
  decodePoisonRecord,
  encodePoisonRecord,
  type PoisonRecord,
} from "../../../shared/scanning/store/poisonRecord.js";
import { scanRecordOf } from "../../../shared/scanning/store/scanRecord.js";
import { boundedJson, historyRowKey } from "../../../shared/scanning/store/tableScanStore.js";

const DIGEST = `sha256:${"b".repeat(64)}`;
const TARGET = { registry: "myregistry.azurecr.io", repository: "team/app", digest: DIGEST };

describe("history row keys", () => {
  it("sort newest first", () => {
    const keys = ["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2025-12-31T23:59:59.999Z"].map((time, i) =>
      historyRowKey(time, `s${i}`),
    );
    expect([...keys].sort()).toEqual([keys[1], keys[0], keys[2]]);
    expect([...keys].every((key) => key < "latest" && key < "lease")).toBe(true);
  });
});

describe("bounded JSON", () => {
  it("keeps whole items only, as many as fit", () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ id: i, text: "x".repeat(100) }));
    const text = boundedJson(items, 1000);
    const back = JSON.parse(text) as unknown[];
    expect(text.length).toBeLessThanOrEqual(1000);
    expect(back.length).toBeGreaterThan(5);
    expect(back).toEqual(items.slice(0, back.length));
    expect(JSON.parse(boundedJson(items.slice(0, 3), 1000))).toEqual(items.slice(0, 3));
  });
});

describe("scan records", () => {
  it("record a gone image with zero counts and its reason", () => {
    const record = scanRecordOf(
      {
        status: "skipped",
        target: TARGET,
        scannedAt: "2026-11-01T00:00:00.000Z",
        reason: "MANIFEST_UNKNOWN",
      },
      "s1",
    );
    expect(record).toMatchObject({
      status: "skipped",
      reason: "MANIFEST_UNKNOWN",
      findingsTotal: 0,
      highest: null,
    });
  });

  it("record a failure with its kind", () => {
    const record = scanRecordOf(
      {
        status: "failed",
        target: TARGET,
        scannedAt: "2026-11-01T00:00:00.000Z",
        failure: "timeout",
        retryable: true,
        reason: "context deadline exceeded",
        diagnostics: "",
      },
      "s2",
    );
    expect(record).toMatchObject({ status: "failed", failure: "timeout", reportBlobs: [] });
  });
});

describe("poison records", () => {
  const base: PoisonRecord = {
    version: 1,
    queue: "scan-requests",
    messageId: "m1",
    dequeueCount: 5,
    poisonedAt: "2026-11-01T00:00:00.000Z",
    kind: "auth-failed",
    reason: "UNAUTHORIZED: password=hunter2hunter2 rejected",
    diagnostics: "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    body: { version: 1, digest: DIGEST },
  };

  it("round-trip as base64 JSON with secrets scrubbed", () => {
    const text = encodePoisonRecord(base);
    const decoded = decodePoisonRecord(text);
    expect(decoded).toMatchObject({ kind: "auth-failed", body: base.body, dequeueCount: 5 });
    expect(JSON.stringify(decoded)).not.toContain("hunter2hunter2");
    expect(JSON.stringify(decoded)).not.toContain("eyJhbGciOiJSUzI1NiJ9");
  });

  it("stay within one queue message however long the diagnostics are", () => {
    const text = encodePoisonRecord({ ...base, diagnostics: `start ${"d".repeat(200_000)} end` });
    expect(text.length).toBeLessThan(64 * 1024);
    expect(decodePoisonRecord(text).diagnostics?.endsWith("end")).toBe(true);
  });

  it("refuse a message that is not a poison record", () => {
    expect(() => decodePoisonRecord("hello")).toThrow(/not a poison record/);
    expect(() => decodePoisonRecord('{"version":1}')).toThrow(/not a poison record/);
  });
});

describe("platform children of an index", () => {
  it("keeps image platforms and drops attestations and unknown platforms", () => {
    const d = (n: number) => `sha256:${String(n).repeat(64)}`;
    const children = platformChildren([
      { digest: d(1), platform: { os: "linux", architecture: "amd64" } },
      { digest: d(2), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      { digest: d(3), platform: { os: "unknown", architecture: "unknown" } },
      {
        digest: d(4),
        platform: { os: "linux", architecture: "s390x" },
        annotations: { "vnd.docker.reference.type": "attestation-manifest" },
      },
      { digest: d(5) },
      { digest: d(6), platform: { os: "linux", architecture: "amd64" } },
    ]);
    expect(children).toEqual([
      { platform: "linux/amd64", digest: d(1) },
      { platform: "linux/arm64/v8", digest: d(2) },
    ]);
  });
});
