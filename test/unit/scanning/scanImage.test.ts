import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AuthenticationError } from "../../../shared/errors/index.js";
import type { ScanCredentialsProvider } from "../../../shared/scanning/ports.js";
import { scanImage } from "../../../shared/scanning/scanImage.js";
import {
  acrRefreshTokenCredentials,
  type RegistryCredentials,
  type ScanFailureKind,
  type ScanOutcome,
  type ScanRunner,
  type ScanTarget,
} from "../../../shared/scanning/scanRunner.js";
import type { AggregatedScanSummary, ScanSummary } from "../../../shared/scanning/summarize.js";
import { parseTrivyReportJson } from "../../../shared/scanning/trivyReport.js";
import { TRIVY_FIXTURES_DIR } from "../../helpers/fake-trivy/index.js";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const TARGET: ScanTarget = { registry: "r.azurecr.io", repository: "team/app", digest: digest("0") };
const NOW = new Date("2026-11-27T10:00:00Z");
const CREDENTIALS = acrRefreshTokenCredentials("refresh-token");

/** An in-memory ScanRunner: replays a fixture or fails, per digest, and remembers its calls. */
class ScriptedRunner implements ScanRunner {
  readonly calls: { target: ScanTarget; credentials: RegistryCredentials | null }[] = [];
  constructor(private readonly script: Record<string, string | ScanFailureKind>) {}
  async scan(target: ScanTarget, credentials: RegistryCredentials | null): Promise<ScanOutcome> {
    this.calls.push({ target, credentials });
    const step = this.script[target.digest];
    if (step === undefined) throw new Error(`unscripted digest ${target.digest}`);
    if (step.endsWith(".json.golden")) {
      const reportJson = readFileSync(path.join(TRIVY_FIXTURES_DIR, step), "utf8");
      return {
        kind: "scanned",
        target,
        report: parseTrivyReportJson(reportJson),
        reportJson,
        scanner: { Version: "0.74.0", VulnerabilityDB: { Version: 2, UpdatedAt: "2026-11-27T06:00:00Z" } },
        durationMs: 1,
      };
    }
    const failure = step as ScanFailureKind;
    return {
      kind: "failed",
      target,
      failure,
      retryable: failure !== "image-gone",
      reason: `scripted ${failure}`,
      exitCode: 1,
      signal: null,
      diagnostics: "",
      durationMs: 1,
    };
  }
}

const provider = (credentials: RegistryCredentials | null = CREDENTIALS): ScanCredentialsProvider => ({
  credentialsFor: async () => credentials,
});

describe("scanImage", () => {
  it("scans one image with the minted credentials and summarises it with the DB version", async () => {
    const runner = new ScriptedRunner({ [TARGET.digest]: "alpine-39.json.golden" });
    const result = await scanImage(
      { runner, credentials: provider(), now: () => NOW },
      { target: TARGET },
      { timeoutMs: 1000 },
    );
    expect(result.status).toBe("completed");
    if (result.status !== "completed") return;
    const summary = result.summary as ScanSummary;
    expect(summary.vulnerabilities.findingsTotal).toBe(6);
    expect(summary.scanner.dbUpdatedAt).toBe("2026-11-27T06:00:00Z");
    expect(result.scannedAt).toBe("2026-11-27T10:00:00.000Z");
    expect(result.reports).toHaveLength(1);
    expect(runner.calls).toEqual([{ target: TARGET, credentials: CREDENTIALS }]);
  });

  it("scans each platform child of an index and aggregates them", async () => {
    const runner = new ScriptedRunner({
      [digest("a")]: "alpine-39.json.golden",
      [digest("b")]: "alpine-310-registry.json.golden",
    });
    const result = await scanImage(
      { runner, credentials: provider(), now: () => NOW },
      {
        target: TARGET,
        children: [
          { platform: "linux/amd64", digest: digest("a") },
          { platform: "linux/arm64", digest: digest("b") },
        ],
      },
      { timeoutMs: 1000 },
    );
    expect(result.status).toBe("completed");
    if (result.status !== "completed") return;
    const summary = result.summary as AggregatedScanSummary;
    expect(summary.platforms.map((p) => p.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    expect(summary.vulnerabilities.findingsTotal).toBe(10);
    expect(summary.vulnerabilities.uniqueTotal).toBe(3);
    expect(result.reports.map((r) => [r.platform, r.digest])).toEqual([
      ["linux/amd64", digest("a")],
      ["linux/arm64", digest("b")],
    ]);
    expect(runner.calls.map((c) => c.target.digest)).toEqual([digest("a"), digest("b")]);
  });

  it("records a gone image as skipped, not as a failure to retry", async () => {
    const runner = new ScriptedRunner({ [TARGET.digest]: "image-gone" });
    const result = await scanImage(
      { runner, credentials: provider(), now: () => NOW },
      { target: TARGET },
      { timeoutMs: 1000 },
    );
    expect(result).toEqual({
      status: "skipped",
      target: TARGET,
      scannedAt: NOW.toISOString(),
      reason: "scripted image-gone",
    });
  });

  it("fails the whole index when one child fails, naming the platform", async () => {
    const runner = new ScriptedRunner({ [digest("a")]: "alpine-39.json.golden", [digest("b")]: "timeout" });
    const result = await scanImage(
      { runner, credentials: provider(), now: () => NOW },
      {
        target: TARGET,
        children: [
          { platform: "linux/amd64", digest: digest("a") },
          { platform: "linux/arm64", digest: digest("b") },
        ],
      },
      { timeoutMs: 1000 },
    );
    expect(result).toMatchObject({
      status: "failed",
      failure: "timeout",
      retryable: true,
      platform: "linux/arm64",
    });
  });

  it("turns a refused credential request into a retryable auth failure without calling the scanner", async () => {
    const runner = new ScriptedRunner({});
    const result = await scanImage(
      {
        runner,
        credentials: {
          credentialsFor: async () => {
            throw new AuthenticationError("token exchange refused: refresh_token=abcdefgh12345678");
          },
        },
        now: () => NOW,
      },
      { target: TARGET },
      { timeoutMs: 1000 },
    );
    expect(result).toMatchObject({ status: "failed", failure: "auth-failed", retryable: true });
    expect(JSON.stringify(result)).not.toContain("abcdefgh12345678");
    expect(runner.calls).toEqual([]);
  });

  it("skips an index with no platform images", async () => {
    const result = await scanImage(
      { runner: new ScriptedRunner({}), credentials: provider(null), now: () => NOW },
      { target: TARGET, children: [] },
      { timeoutMs: 1000 },
    );
    expect(result.status).toBe("skipped");
  });
});
