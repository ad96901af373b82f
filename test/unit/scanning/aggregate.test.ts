import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../../shared/errors/index.js";
import {
  AggregatedScanSummarySchema,
  aggregateSummaries,
  type ScanSummary,
  summarizeTrivyReport,
} from "../../../shared/scanning/summarize.js";
import { parseTrivyReport, parseTrivyReportJson } from "../../../shared/scanning/trivyReport.js";
import { TRIVY_FIXTURES_DIR } from "../../helpers/fake-trivy/index.js";

const summaryOf = (file: string): ScanSummary =>
  summarizeTrivyReport(parseTrivyReportJson(readFileSync(path.join(TRIVY_FIXTURES_DIR, file), "utf8")));

function synthetic(
  vulnerabilities: { id: string; severity: string; pkg?: string; fixed?: string }[],
  eosl = false,
) {
  return summarizeTrivyReport(
    parseTrivyReport({
      SchemaVersion: 2,
      Metadata: { OS: { Family: "debian", Name: "12", ...(eosl ? { EOSL: true } : {}) } },
      Results: [
        {
          Target: "image (debian 12)",
          Vulnerabilities: vulnerabilities.map((v) => ({
            VulnerabilityID: v.id,
            Severity: v.severity,
            PkgName: v.pkg ?? "pkg",
            InstalledVersion: "1",
            ...(v.fixed ? { FixedVersion: v.fixed } : {}),
          })),
        },
      ],
    }),
  );
}

describe("aggregateSummaries", () => {
  it("sums per-finding counts and merges unique ids across platform children", () => {
    const amd64 = summaryOf("alpine-39.json.golden"); // 6 findings, ids 1549, 1551, 14697
    const arm64 = summaryOf("alpine-310-registry.json.golden"); // 4 findings, ids 1549, 1551
    const index = aggregateSummaries([
      { platform: "linux/amd64", summary: amd64 },
      { platform: "linux/arm64", summary: arm64 },
    ]);
    expect(index.vulnerabilities.findings).toEqual({ CRITICAL: 2, HIGH: 0, MEDIUM: 8, LOW: 0, UNKNOWN: 0 });
    expect(index.vulnerabilities.findingsTotal).toBe(10);
    expect(index.vulnerabilities.uniqueTotal).toBe(3);
    expect(index.vulnerabilities.unique).toEqual({ CRITICAL: 1, HIGH: 0, MEDIUM: 2, LOW: 0, UNKNOWN: 0 });
    expect(index.vulnerabilities.fixable).toBe(10);
    expect(index.vulnerabilities.uniqueFixable).toBe(3);
    expect(index.vulnerabilities.statuses).toEqual({ fixed: 10 });
    expect(index.results).toBe(2);
    expect(index.platforms.map((p) => p.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    expect(index.platforms[1]?.summary).toEqual(arm64);
    expect(AggregatedScanSummarySchema.parse(index)).toEqual(index);
  });

  it("keeps each id at the highest severity any child gives it", () => {
    const index = aggregateSummaries([
      { platform: "linux/amd64", summary: synthetic([{ id: "CVE-X", severity: "LOW" }]) },
      { platform: "linux/arm64", summary: synthetic([{ id: "CVE-X", severity: "HIGH", pkg: "other" }]) },
    ]);
    expect(index.vulnerabilities.unique).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 0, LOW: 0, UNKNOWN: 0 });
    expect(index.vulnerabilities.findings).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 0, LOW: 1, UNKNOWN: 0 });
    expect(index.vulnerabilities.highest).toBe("HIGH");
  });

  it("counts an id as fixable when any platform has a fix", () => {
    const index = aggregateSummaries([
      { platform: "linux/amd64", summary: synthetic([{ id: "A", severity: "LOW" }]) },
      {
        platform: "linux/arm64",
        summary: synthetic([
          { id: "A", severity: "LOW", fixed: "2" },
          { id: "B", severity: "LOW" },
        ]),
      },
    ]);
    expect(index.vulnerabilities.fixableIds).toEqual(["A"]);
    expect(index.vulnerabilities.uniqueFixable).toBe(1);
    expect(index.vulnerabilities.fixable).toBe(1);
    expect(index.vulnerabilities.unfixable).toBe(2);
  });

  it("is end of life when any child is, and keeps the first child's OS", () => {
    const index = aggregateSummaries([
      { platform: "linux/amd64", summary: synthetic([], false) },
      { platform: "linux/arm/v7", summary: synthetic([], true) },
    ]);
    expect(index.endOfLife).toBe(true);
    expect(index.os).toEqual({ family: "debian", name: "12", endOfLife: true });
    const fresh = aggregateSummaries([{ platform: "linux/amd64", summary: synthetic([], false) }]);
    expect(fresh.endOfLife).toBe(false);
  });

  it("lists a finding seen on several platforms once, with all of them", () => {
    const a = synthetic([
      { id: "CVE-1", severity: "CRITICAL" },
      { id: "CVE-2", severity: "LOW" },
    ]);
    const b = synthetic([
      { id: "CVE-1", severity: "CRITICAL" },
      { id: "CVE-3", severity: "HIGH" },
    ]);
    const index = aggregateSummaries([
      { platform: "linux/amd64", summary: a },
      { platform: "linux/arm64", summary: b },
    ]);
    expect(index.worst.map((f) => [f.vulnerabilityId, f.platforms])).toEqual([
      ["CVE-1", ["linux/amd64", "linux/arm64"]],
      ["CVE-3", ["linux/arm64"]],
      ["CVE-2", ["linux/amd64"]],
    ]);
    expect(
      aggregateSummaries([{ platform: "linux/amd64", summary: a }], { worstLimit: 1 }).worst,
    ).toHaveLength(1);
  });

  it("sums secrets across children", () => {
    const secrets = summaryOf("secrets.json.golden");
    const index = aggregateSummaries([
      { platform: "linux/amd64", summary: secrets },
      { platform: "linux/arm64", summary: secrets },
    ]);
    expect(index.secrets.total).toBe(4);
    expect(index.secrets.bySeverity.CRITICAL).toBe(2);
  });

  it("refuses an empty index and a platform listed twice", () => {
    expect(() => aggregateSummaries([])).toThrow(ValidationError);
    const s = synthetic([]);
    expect(() =>
      aggregateSummaries([
        { platform: "linux/amd64", summary: s },
        { platform: "linux/amd64", summary: s },
      ]),
    ).toThrow(/linux\/amd64/);
  });
});
