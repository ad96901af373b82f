import { describe, expect, it } from "vitest";
import {
  type ImageRow,
  type ImageScan,
  renderImages,
  scanText,
  toImageRow,
} from "../../../cli/commands/images.js";
import type { ManifestRecord } from "../../../shared/inventory/ports.js";
import type { ScanRecord } from "../../../shared/scanning/store/scanRecord.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

function record(overrides: Partial<ManifestRecord> = {}): ManifestRecord {
  return {
    registry: "demo.azurecr.io",
    repository: "team/app",
    digest: DIGEST,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifestSize: 812,
    artifact: "image",
    state: "present",
    tags: ["1.0", "latest"],
    firstPushedAt: "2026-03-01T10:00:00.000Z",
    lastPushedAt: "2026-03-02T10:00:00.000Z",
    pushedBy: "ci",
    deletedAt: undefined,
    deletedBy: undefined,
    description: {
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm", variant: "v7" },
      ],
      createdAt: "2026-03-01T09:00:00Z",
      sizeInBytes: 3 * 1024 * 1024,
      children: [],
    },
    needsEnrichment: false,
    enrichmentError: undefined,
    lastEventAt: "2026-03-02T10:00:00.000Z",
    lastEventId: "e2",
    ...overrides,
  };
}

const counts = (critical: number, high: number, medium = 0, low = 0, unknown = 0) => ({
  CRITICAL: critical,
  HIGH: high,
  MEDIUM: medium,
  LOW: low,
  UNKNOWN: unknown,
});

function scan(status: ImageScan["status"], findings = counts(0, 0)): ImageScan {
  return { status, scannedAt: "2026-03-02T11:00:00Z", highest: null, findings, fixable: 0 };
}

describe("images: rows", () => {
  it("carry every field, null when unknown, platforms as os/arch[/variant]", () => {
    const enriched = toImageRow(record(), undefined);
    expect(enriched).toMatchObject({
      platforms: ["linux/amd64", "linux/arm/v7"],
      sizeInBytes: 3 * 1024 * 1024,
      createdAt: "2026-03-01T09:00:00Z",
      pushedAt: "2026-03-02T10:00:00.000Z",
      deletedAt: null,
      scan: null,
    });
    const fromEventOnly = toImageRow(record({ description: undefined, needsEnrichment: true }), undefined);
    expect(fromEventOnly).toMatchObject({
      platforms: [],
      sizeInBytes: null,
      createdAt: null,
      manifestSize: 812,
    });
    expect(Object.values(fromEventOnly)).not.toContain(undefined);
  });

  it("keep the latest scan's status, counts and time", () => {
    const latest = {
      status: "completed",
      scannedAt: "2026-03-02T11:00:00Z",
      highest: "HIGH",
      findings: counts(0, 2, 1),
      fixable: 3,
    } as unknown as ScanRecord;
    expect(toImageRow(record(), latest).scan).toEqual({
      status: "completed",
      scannedAt: "2026-03-02T11:00:00Z",
      highest: "HIGH",
      findings: counts(0, 2, 1),
      fixable: 3,
    });
  });
});

describe("images: scan column", () => {
  it("says unknown without a scan, the status of unfinished scans, clean, or the two worst counts", () => {
    expect(scanText(null)).toBe("unknown");
    expect(scanText(scan("failed"))).toBe("failed");
    expect(scanText(scan("skipped"))).toBe("skipped");
    expect(scanText(scan("completed"))).toBe("clean");
    expect(scanText(scan("completed", counts(1, 0, 4, 9)))).toBe("1 critical, 4 medium");
    expect(scanText(scan("completed", counts(0, 0, 0, 0, 2)))).toBe("2 unknown");
  });
});

describe("images: table", () => {
  it("aligns columns, shows ? for what only the registry can tell, and a REGISTRY column only when needed", () => {
    const rows = [
      toImageRow(record(), undefined),
      toImageRow(
        record({
          repository: "team/app-with-long-name",
          digest: `sha256:${"cd".repeat(32)}`,
          tags: [],
          description: undefined,
          needsEnrichment: true,
          pushedBy: undefined,
        }),
        undefined,
      ),
      toImageRow(
        record({
          state: "deleted",
          tags: [],
          deletedAt: "2026-03-04T08:30:00Z",
          description: undefined,
          artifact: "chart",
        }),
        undefined,
      ),
    ];
    expect(renderImages(rows)).toBe(
      [
        "REPOSITORY               DIGEST               TAGS        PLATFORM                     SIZE  PUSHED             BY  DELETED            SCAN",
        "team/app                 sha256:abababababab  1.0,latest  linux/amd64,linux/arm/v7  3.0 MiB  2026-03-02 10:00Z  ci  -                  unknown",
        "team/app-with-long-name  sha256:cdcdcdcdcdcd  -           ?                               ?  2026-03-02 10:00Z  -   -                  unknown",
        "team/app                 sha256:abababababab  -           helm chart                      ?  2026-03-02 10:00Z  ci  2026-03-04 08:30Z  unknown",
        "",
      ].join("\n"),
    );
    const first = rows[0] as ImageRow;
    const twoRegistries = renderImages([first, { ...first, registry: "other.azurecr.io" }]);
    expect(twoRegistries.split("\n")[0]).toMatch(/^REGISTRY\s+REPOSITORY\s+DIGEST/);
  });
});
