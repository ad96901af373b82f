import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../../shared/errors/index.js";
import { TrivyReportError } from "../../../shared/scanning/errors.js";
import { summarizeTrivyReport } from "../../../shared/scanning/summarize.js";
import {
  parseTrivyReport,
  parseTrivyReportJson,
  parseTrivyVersionInfoJson,
} from "../../../shared/scanning/trivyReport.js";
import { TRIVY_FIXTURES_DIR } from "../../helpers/fake-trivy/index.js";

type Json = Record<string, unknown>;

const goldens = readdirSync(TRIVY_FIXTURES_DIR).filter((f) => f.endsWith(".json.golden"));
const readGolden = (file: string): Json =>
  JSON.parse(readFileSync(path.join(TRIVY_FIXTURES_DIR, file), "utf8")) as Json;

/** Fields Trivy adds over time or omits when empty: a report missing any of them is still a report. */
const OPTIONAL_TOP = [
  "Trivy",
  "ReportID",
  "CreatedAt",
  "ArtifactID",
  "ArtifactName",
  "ArtifactType",
  "Metadata",
];
const OPTIONAL_RESULT = [
  "Target",
  "Class",
  "Type",
  "Vulnerabilities",
  "Secrets",
  "Misconfigurations",
  "Packages",
  "CustomResources",
];

function rejection(document: unknown): TrivyReportError {
  try {
    parseTrivyReport(document);
  } catch (error) {
    expect(error).toBeInstanceOf(TrivyReportError);
    expect(error).toBeInstanceOf(ValidationError);
    return error as TrivyReportError;
  }
  throw new Error("expected the document to be rejected");
}

describe("parseTrivyReport: lenient with real reports", () => {
  it.each(goldens)("reads %s with every optional top-level and result field removed", (file) => {
    const report = readGolden(file);
    for (const key of OPTIONAL_TOP) delete report[key];
    for (const result of (report.Results as Json[] | undefined) ?? []) {
      for (const key of OPTIONAL_RESULT) delete result[key];
    }
    expect(() => parseTrivyReport(report)).not.toThrow();
    delete report.Results;
    expect(parseTrivyReport(report).Results).toBeUndefined();
  });

  it.each(goldens)("reads %s when findings keep only their identifiers", (file) => {
    const report = readGolden(file);
    const before = summarizeTrivyReport(parseTrivyReport(report)).vulnerabilities;
    for (const result of (report.Results as Json[] | undefined) ?? []) {
      result.Vulnerabilities = ((result.Vulnerabilities as Json[] | undefined) ?? []).map((v) => ({
        VulnerabilityID: v.VulnerabilityID,
        Severity: v.Severity,
      }));
      result.Secrets = ((result.Secrets as Json[] | undefined) ?? []).map((s) => ({ RuleID: s.RuleID }));
    }
    const after = summarizeTrivyReport(parseTrivyReport(report)).vulnerabilities;
    expect(after.findings).toEqual(before.findings);
    expect(after.unique).toEqual(before.unique);
    expect(after.fixable).toBe(0);
  });

  it("accepts any subset of optional fields being absent (property)", () => {
    const file = "fluentd-gems.json.golden";
    const paths = [
      ...OPTIONAL_TOP.map((k) => [k]),
      ...[
        "OS",
        "ImageID",
        "DiffIDs",
        "RepoTags",
        "RepoDigests",
        "ImageConfig",
        "Layers",
        "Size",
        "Reference",
      ].map((k) => ["Metadata", k]),
      ...[
        "PkgID",
        "PkgName",
        "InstalledVersion",
        "FixedVersion",
        "Status",
        "Severity",
        "Title",
        "CVSS",
        "DataSource",
        "Layer",
        "Fingerprint",
      ].map((k) => ["V", k]),
    ];
    fc.assert(
      fc.property(fc.subarray(paths), (removed) => {
        const report = readGolden(file);
        for (const [first, second] of removed) {
          if (first === "V") {
            for (const r of report.Results as Json[])
              for (const v of (r.Vulnerabilities as Json[]) ?? []) delete v[second as string];
          } else if (second === undefined) delete report[first as string];
          else delete (report[first as string] as Json | undefined)?.[second];
        }
        expect(summarizeTrivyReport(parseTrivyReport(report)).vulnerabilities.findingsTotal).toBe(2);
      }),
      { numRuns: 60 },
    );
  });

  it("treats null lists and objects (older Trivy) as absent", () => {
    const report = parseTrivyReport({
      SchemaVersion: 2,
      Metadata: null,
      Results: [{ Target: "x", Vulnerabilities: null, Secrets: null, Packages: null }],
    });
    expect(summarizeTrivyReport(report).vulnerabilities.findingsTotal).toBe(0);
  });

  it("keeps unknown fields instead of dropping them", () => {
    const report = parseTrivyReport({
      SchemaVersion: 2,
      FutureField: { a: 1 },
      Results: [{ Target: "t", NewThing: true, Vulnerabilities: [{ VulnerabilityID: "CVE-1", EPSS: 0.97 }] }],
    });
    expect(report.FutureField).toEqual({ a: 1 });
    expect(report.Results?.[0]?.NewThing).toBe(true);
    expect(report.Results?.[0]?.Vulnerabilities?.[0]?.EPSS).toBe(0.97);
  });
});

describe("parseTrivyReport: rejects what is not a Trivy report", () => {
  it.each([
    ["an array", [], "$"],
    ["a string", "report", "$"],
    ["null", null, "$"],
    ["a report without SchemaVersion", { Results: [] }, "SchemaVersion"],
    ["SchemaVersion 1", { SchemaVersion: 1, Results: [] }, "SchemaVersion"],
    ["SchemaVersion as text", { SchemaVersion: "2" }, "SchemaVersion"],
    ["Results as an object", { SchemaVersion: 2, Results: { Target: "x" } }, "Results"],
    ["a result that is not an object", { SchemaVersion: 2, Results: ["x"] }, "Results[0]"],
    [
      "Vulnerabilities as an object",
      { SchemaVersion: 2, Results: [{ Vulnerabilities: {} }] },
      "Results[0].Vulnerabilities",
    ],
  ])("%s", (_name, document, where) => {
    const error = rejection(document);
    expect(error.issues.map((i) => i.path)).toContain(where);
    expect(error.message).toMatch(/^not a Trivy JSON report: /);
  });

  it("names the finding that has no VulnerabilityID", () => {
    const report = readGolden("alpine-39.json.golden");
    const vulnerabilities = (report.Results as Json[])[0]?.Vulnerabilities as Json[];
    delete vulnerabilities[2]?.VulnerabilityID;
    const error = rejection(report);
    expect(error.message).toContain("Results[0].Vulnerabilities[2].VulnerabilityID");
    expect(error.message).toContain("VulnerabilityID");
  });

  it("rejects an empty VulnerabilityID and a secret without RuleID", () => {
    expect(
      rejection({ SchemaVersion: 2, Results: [{ Vulnerabilities: [{ VulnerabilityID: "" }] }] }).message,
    ).toContain("Results[0].Vulnerabilities[0].VulnerabilityID");
    expect(rejection({ SchemaVersion: 2, Results: [{ Secrets: [{ Severity: "HIGH" }] }] }).message).toContain(
      "Results[0].Secrets[0].RuleID",
    );
  });

  it("rejects text that is not JSON, or is empty, with the root as the place", () => {
    for (const text of ['{"SchemaVersion": 2, "Results": [', "", "   "]) {
      const error = (() => {
        try {
          parseTrivyReportJson(text);
        } catch (e) {
          return e as TrivyReportError;
        }
        throw new Error("expected a rejection");
      })();
      expect(error).toBeInstanceOf(TrivyReportError);
      expect(error.issues[0]?.path).toBe("$");
    }
  });
});

describe("parseTrivyVersionInfoJson", () => {
  it("reads `trivy version --format json` output, with or without DB metadata", () => {
    expect(
      parseTrivyVersionInfoJson(
        '{"Version":"0.74.0","VulnerabilityDB":{"Version":2,"NextUpdate":"2026-11-27T12:00:00Z","UpdatedAt":"2026-11-27T06:00:00Z","DownloadedAt":"2026-11-27T07:00:00Z"}}',
      ).VulnerabilityDB?.UpdatedAt,
    ).toBe("2026-11-27T06:00:00Z");
    expect(parseTrivyVersionInfoJson('{"Version":"0.50.0"}').VulnerabilityDB).toBeUndefined();
    expect(() => parseTrivyVersionInfoJson("Version: 0.50.0")).toThrow(TrivyReportError);
  });
});
