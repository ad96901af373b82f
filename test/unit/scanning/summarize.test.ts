import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SEVERITIES, type SeverityCounts } from "../../../shared/scanning/severity.js";
import {
  type ScanSummary,
  ScanSummarySchema,
  summarizeTrivyReport,
} from "../../../shared/scanning/summarize.js";
import {
  parseTrivyReport,
  parseTrivyReportJson,
  type TrivyReport,
} from "../../../shared/scanning/trivyReport.js";
import { TRIVY_FIXTURES_DIR } from "../../helpers/fake-trivy/index.js";

interface ExpectedSummary {
  artifactType: string;
  os: { Family: string; Name: string; EOSL?: boolean } | null;
  results: number;
  vulnFindingsBySeverity: Record<string, number>;
  vulnFindingsTotal: number;
  uniqueVulnIds: number;
  withFixedVersion: number;
  withoutFixedVersion: number;
  statuses: Record<string, number>;
  secretsBySeverity: Record<string, number>;
  misconfigFailuresBySeverity: Record<string, number>;
  hasRepoDigests: boolean;
  schemaVersion: number;
}

const expectedFile = JSON.parse(
  readFileSync(path.join(TRIVY_FIXTURES_DIR, "EXPECTED_SUMMARIES.json"), "utf8"),
) as {
  files: Record<string, ExpectedSummary>;
};

/** EXPECTED_SUMMARIES.json key → the same fact read from our summary. Every key it lists must be here. */
const FIELD_MAP: Record<keyof ExpectedSummary, (summary: ScanSummary) => unknown> = {
  artifactType: (s) => s.artifact.type,
  os: (s) =>
    s.os === null
      ? null
      : { Family: s.os.family, Name: s.os.name, ...(s.os.endOfLife ? { EOSL: true } : {}) },
  results: (s) => s.results,
  vulnFindingsBySeverity: (s) => s.vulnerabilities.findings,
  vulnFindingsTotal: (s) => s.vulnerabilities.findingsTotal,
  uniqueVulnIds: (s) => s.vulnerabilities.uniqueTotal,
  withFixedVersion: (s) => s.vulnerabilities.fixable,
  withoutFixedVersion: (s) => s.vulnerabilities.unfixable,
  statuses: (s) => s.vulnerabilities.statuses,
  // The expected file lists only severities that occur; ours always has all five.
  secretsBySeverity: (s) => nonZero(s.secrets.bySeverity),
  misconfigFailuresBySeverity: (s) => nonZero(s.misconfigurations.failuresBySeverity),
  hasRepoDigests: (s) => s.artifact.repoDigests.length > 0,
  schemaVersion: (s) => s.schemaVersion,
};

function nonZero(counts: SeverityCounts): Record<string, number> {
  return Object.fromEntries(SEVERITIES.filter((s) => counts[s] > 0).map((s) => [s, counts[s]]));
}

function loadFixture(file: string): TrivyReport {
  return parseTrivyReportJson(readFileSync(path.join(TRIVY_FIXTURES_DIR, file), "utf8"));
}

describe("summarizeTrivyReport against EXPECTED_SUMMARIES.json", () => {
  const entries = Object.entries(expectedFile.files);

  it("has an expected summary for every fixture report and a fixture for every expected summary", () => {
    const goldens = readdirSync(TRIVY_FIXTURES_DIR)
      .filter((f) => f.endsWith(".json.golden"))
      .sort();
    expect(entries.map(([file]) => file).sort()).toEqual(goldens);
    expect(goldens.length).toBeGreaterThanOrEqual(8);
  });

  it.each(entries)("%s", (file, expected) => {
    const summary = summarizeTrivyReport(loadFixture(file));
    for (const key of Object.keys(expected)) {
      expect(FIELD_MAP, `EXPECTED_SUMMARIES.json lists '${key}', which the test does not map`).toHaveProperty(
        key,
      );
    }
    const actual = Object.fromEntries(
      Object.keys(expected).map((key) => [key, FIELD_MAP[key as keyof ExpectedSummary](summary)]),
    );
    expect(actual).toEqual(expected);
    // The summary is a stored shape: it must satisfy its own schema.
    expect(ScanSummarySchema.parse(summary)).toEqual(summary);
  });
});

describe("summarizeTrivyReport details", () => {
  it("counts each vulnerability id once, at the highest severity any of its findings has", () => {
    const report = parseTrivyReport({
      SchemaVersion: 2,
      Results: [
        {
          Target: "os",
          Vulnerabilities: [
            { VulnerabilityID: "CVE-1", PkgName: "a", Severity: "LOW" },
            { VulnerabilityID: "CVE-1", PkgName: "b", Severity: "HIGH" },
            { VulnerabilityID: "CVE-2", PkgName: "a", Severity: "MEDIUM" },
          ],
        },
        { Target: "lang", Vulnerabilities: [{ VulnerabilityID: "CVE-1", PkgName: "c", Severity: "MEDIUM" }] },
      ],
    });
    const { vulnerabilities } = summarizeTrivyReport(report);
    expect(vulnerabilities.findings).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 1, UNKNOWN: 0 });
    expect(vulnerabilities.unique).toEqual({ CRITICAL: 0, HIGH: 1, MEDIUM: 1, LOW: 0, UNKNOWN: 0 });
    expect(vulnerabilities.idsBySeverity.HIGH).toEqual(["CVE-1"]);
    expect(vulnerabilities.highest).toBe("HIGH");
  });

  it("counts a missing, empty or unknown severity as UNKNOWN", () => {
    const report = parseTrivyReport({
      SchemaVersion: 2,
      Results: [
        {
          Vulnerabilities: [
            { VulnerabilityID: "A" },
            { VulnerabilityID: "B", Severity: "" },
            { VulnerabilityID: "C", Severity: "SEVERE" },
            { VulnerabilityID: "D", Severity: "critical" },
          ],
        },
      ],
    });
    expect(summarizeTrivyReport(report).vulnerabilities.findings).toEqual({
      CRITICAL: 1,
      HIGH: 0,
      MEDIUM: 0,
      LOW: 0,
      UNKNOWN: 3,
    });
  });

  it("calls a finding fixable when it names a FixedVersion, whatever its status says", () => {
    const report = parseTrivyReport({
      SchemaVersion: 2,
      Results: [
        {
          Vulnerabilities: [
            { VulnerabilityID: "A", FixedVersion: "1.2", Status: "fixed" },
            { VulnerabilityID: "A", FixedVersion: "", Status: "affected" },
            { VulnerabilityID: "B", Status: "fixed" },
            { VulnerabilityID: "C", FixedVersion: "6.0.3.1, 5.2.4.3" },
            { VulnerabilityID: "D", Status: "will_not_fix" },
          ],
        },
      ],
    });
    const { vulnerabilities } = summarizeTrivyReport(report);
    expect(vulnerabilities.fixable).toBe(2);
    expect(vulnerabilities.unfixable).toBe(3);
    expect(vulnerabilities.fixableIds).toEqual(["A", "C"]);
    expect(vulnerabilities.uniqueFixable).toBe(2);
    expect(vulnerabilities.statuses).toEqual({ affected: 1, fixed: 2, will_not_fix: 1 });
  });

  it("ranks the worst findings by severity, then CVSS score, then id, whatever order Trivy printed", () => {
    const report = loadFixture("alpine-39.json.golden");
    const summary = summarizeTrivyReport(report, { worstLimit: 4 });
    expect(summary.worst.map((f) => [f.vulnerabilityId, f.pkgName, f.severity, f.cvssScore])).toEqual([
      ["CVE-2019-14697", "musl", "CRITICAL", 9.8],
      ["CVE-2019-14697", "musl-utils", "CRITICAL", 9.8],
      ["CVE-2019-1549", "libcrypto1.1", "MEDIUM", 5.3],
      ["CVE-2019-1549", "libssl1.1", "MEDIUM", 5.3],
    ]);
    const results = report.Results ?? [];
    const reversed = {
      ...report,
      Results: results.map((r) => ({ ...r, Vulnerabilities: [...(r.Vulnerabilities ?? [])].reverse() })),
    };
    expect(summarizeTrivyReport(reversed, { worstLimit: 4 }).worst).toEqual(summary.worst);
  });

  it("prefers a higher CVSS score within a severity and keeps what a reader needs", () => {
    const summary = summarizeTrivyReport(loadFixture("debian-buster.json.golden"));
    expect(summary.worst[0]).toMatchObject({
      vulnerabilityId: "CVE-2019-18224",
      severity: "CRITICAL",
      cvssScore: 9.8,
      pkgName: "libidn2-0",
      fixedVersion: "2.0.5-1+deb10u1",
      status: "fixed",
    });
    // The unfixed LOW finding has no fixedVersion at all rather than an empty one.
    expect(summary.worst[1]).not.toHaveProperty("fixedVersion");
    expect(summary.worst[1]?.status).toBe("affected");
  });

  it("lists the same vulnerability in the same package version once", () => {
    const report = parseTrivyReport({
      SchemaVersion: 2,
      Results: [
        {
          Target: "x",
          Vulnerabilities: [{ VulnerabilityID: "A", PkgName: "p", InstalledVersion: "1", Severity: "HIGH" }],
        },
        {
          Target: "y",
          Vulnerabilities: [{ VulnerabilityID: "A", PkgName: "p", InstalledVersion: "1", Severity: "HIGH" }],
        },
      ],
    });
    const summary = summarizeTrivyReport(report);
    expect(summary.vulnerabilities.findingsTotal).toBe(2);
    expect(summary.worst).toHaveLength(1);
    expect(summary.worst[0]?.target).toBe("x");
  });

  it("takes the Trivy and DB versions from `trivy version` when the report lacks them", () => {
    const report = loadFixture("alpine-310-registry.json.golden");
    const summary = summarizeTrivyReport(report, {
      scanner: {
        Version: "0.74.0",
        VulnerabilityDB: {
          Version: 2,
          UpdatedAt: "2026-11-27T06:00:00Z",
          NextUpdate: "2026-11-27T12:00:00Z",
        },
      },
    });
    expect(summary.scanner).toEqual({
      trivyVersion: "0.74.0",
      dbVersion: 2,
      dbUpdatedAt: "2026-11-27T06:00:00Z",
      dbNextUpdate: "2026-11-27T12:00:00Z",
    });
    expect(summarizeTrivyReport(loadFixture("alpine-39.json.golden")).scanner).toEqual({
      trivyVersion: "dev",
    });
  });

  it("reads the artifact, its digest and the end-of-life flag", () => {
    const registry = summarizeTrivyReport(loadFixture("alpine-310-registry.json.golden"));
    expect(registry.artifact).toEqual({
      name: "alpine:3.10",
      type: "container_image",
      digest: "sha256:b1c5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60",
      imageId: "sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4",
      repoDigests: ["alpine@sha256:b1c5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60"],
    });
    expect(registry.os).toEqual({ family: "alpine", name: "3.10.2", endOfLife: true });
    const byDigest = summarizeTrivyReport(
      parseTrivyReport({ SchemaVersion: 2, ArtifactName: `r.azurecr.io/app@sha256:${"a".repeat(64)}` }),
    );
    expect(byDigest.artifact.digest).toBe(`sha256:${"a".repeat(64)}`);
    expect(summarizeTrivyReport(loadFixture("debian-buster.json.golden")).os?.endOfLife).toBe(false);
    const noFamily = summarizeTrivyReport(
      parseTrivyReport({ SchemaVersion: 2, Metadata: { OS: { EOSL: true } } }),
    );
    expect(noFamily.os).toEqual({ family: "unknown", endOfLife: true });
  });

  it("counts secrets by severity and only FAIL misconfigurations", () => {
    const secrets = summarizeTrivyReport(loadFixture("secrets.json.golden"));
    expect(secrets.secrets).toEqual({
      bySeverity: { CRITICAL: 1, HIGH: 1, MEDIUM: 0, LOW: 0, UNKNOWN: 0 },
      total: 2,
    });
    const misconfig = summarizeTrivyReport(
      parseTrivyReport({
        SchemaVersion: 2,
        Results: [
          {
            Target: "Dockerfile",
            Class: "config",
            Misconfigurations: [
              { ID: "DS002", Severity: "HIGH", Status: "FAIL" },
              { ID: "DS001", Severity: "MEDIUM", Status: "PASS" },
              { ID: "DS026", Severity: "LOW", Status: "FAIL" },
              { ID: "DS005", Severity: "LOW", Status: "EXCEPTION" },
            ],
          },
        ],
      }),
    );
    expect(misconfig.misconfigurations).toEqual({
      failuresBySeverity: { CRITICAL: 0, HIGH: 1, MEDIUM: 0, LOW: 1, UNKNOWN: 0 },
      failures: 2,
    });
  });

  it("summarizes a report without Results as clean", () => {
    const summary = summarizeTrivyReport(parseTrivyReport({ SchemaVersion: 2, ArtifactName: "x" }));
    expect(summary.results).toBe(0);
    expect(summary.vulnerabilities.findingsTotal).toBe(0);
    expect(summary.vulnerabilities.highest).toBeNull();
    expect(summary.worst).toEqual([]);
    expect(summary.os).toBeNull();
  });

  it("refuses a negative worst limit", () => {
    expect(() => summarizeTrivyReport(parseTrivyReport({ SchemaVersion: 2 }), { worstLimit: -1 })).toThrow(
      /worstLimit/,
    );
  });
});
