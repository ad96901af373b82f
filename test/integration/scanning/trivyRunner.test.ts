import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigurationError, ValidationError } from "../../../shared/errors/index.js";
import { scanImage } from "../../../shared/scanning/scanImage.js";
import {
  ACR_REFRESH_TOKEN_USERNAME,
  acrRefreshTokenCredentials,
  type ScanFailed,
  type ScanOutcome,
  type ScanTarget,
} from "../../../shared/scanning/scanRunner.js";
import { type AggregatedScanSummary, summarizeTrivyReport } from "../../../shared/scanning/summarize.js";
import { parseTrivyReportJson } from "../../../shared/scanning/trivyReport.js";
import {
  type ScanLogger,
  TrivyRunner,
  type TrivyRunnerConfig,
} from "../../../shared/scanning/trivyRunner.js";
import { FAKE_TRIVY_PATH, readFakeTrivyCalls, readFixture } from "../../helpers/fake-trivy/index.js";

const REGISTRY = "stewardtest.azurecr.io";
const DIGEST = `sha256:${"4".repeat(64)}`;
// A JWT-shaped refresh token, as ACR issues them. It must never leave the scan's environment.
const PASSWORD = "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJzdGV3YXJkLXRlc3QifQ.c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ";
const CREDENTIALS = acrRefreshTokenCredentials(PASSWORD);
const FIXTURES = [
  "alpine-39",
  "alpine-310-registry",
  "debian-buster",
  "ubuntu-1804",
  "fluentd-gems",
  "spring4shell-jre11",
  "sl-micro-rancher5.4",
  "secrets",
];

let root: string;
let cacheDir: string;
let workDir: string;
let recordFile: string;
const logLines: string[] = [];

const logger: ScanLogger = {
  info: (message, context) => logLines.push(JSON.stringify({ level: "info", message, context })),
  warn: (message, context) => logLines.push(JSON.stringify({ level: "warn", message, context })),
};

/** The worker's own environment, full of things Trivy must never see. */
const WORKER_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  TRIVY_USERNAME: "leaked-user",
  TRIVY_PASSWORD: "leaked-password",
  TRIVY_REGISTRY_TOKEN: "leaked-token",
  AZURE_CLIENT_ID: "11111111-1111-1111-1111-111111111111",
  AZURE_CLIENT_SECRET: "leaked-client-secret",
  AZURE_TENANT_ID: "22222222-2222-2222-2222-222222222222",
  IDENTITY_ENDPOINT: "http://localhost:42356/msi/token",
  IDENTITY_HEADER: "leaked-identity-header",
  ACR_STEWARD_STORAGE: "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=leaked==",
  HOME: "/root",
  DOCKER_CONFIG: "/root/.docker",
};

function runner(
  overrides: Partial<TrivyRunnerConfig> = {},
  extraEnv: Record<string, string> = {},
): TrivyRunner {
  return new TrivyRunner({
    trivyPath: FAKE_TRIVY_PATH,
    cacheDir,
    workDir,
    baseEnv: WORKER_ENV,
    extraEnv: { FAKE_TRIVY_RECORD: recordFile, ...extraEnv },
    killGraceMs: 300,
    termGraceMs: 300,
    logger,
    ...overrides,
  });
}

const target = (repository: string): ScanTarget => ({ registry: REGISTRY, repository, digest: DIGEST });

async function lastCall() {
  const calls = await readFakeTrivyCalls(recordFile);
  const call = calls.filter((c) => c.command === "image").at(-1);
  if (!call) throw new Error("the stand-in trivy was not called");
  return call;
}

function expectFailure(outcome: ScanOutcome, failure: ScanFailed["failure"], retryable: boolean): ScanFailed {
  expect(outcome.kind).toBe("failed");
  const failed = outcome as ScanFailed;
  expect({ failure: failed.failure, retryable: failed.retryable }).toEqual({ failure, retryable });
  return failed;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "acr-steward-trivy-runner-"));
  cacheDir = path.join(root, "cache");
  workDir = path.join(root, "work");
  recordFile = path.join(root, "calls.jsonl");
  await mkdir(workDir);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("TrivyRunner against the stand-in trivy", () => {
  it("fails as db-unavailable before the DB was ever refreshed", async () => {
    const outcome = await runner().scan(target("fixtures/alpine-39"), CREDENTIALS, { timeoutMs: 30_000 });
    const failed = expectFailure(outcome, "db-unavailable", true);
    expect(failed.reason).toContain("--skip-db-update cannot be specified on the first run");
    expect(failed.exitCode).toBe(1);
  });

  it("refreshes the DB in a separate call that sees no credentials at all", async () => {
    await writeFile(recordFile, "");
    const outcome = await runner().refreshDatabase({
      dbRepository: "stewardtest.azurecr.io/mirror/trivy-db:2",
      javaDbRepository: "stewardtest.azurecr.io/mirror/trivy-java-db:1",
    });
    expect(outcome.kind).toBe("refreshed");
    if (outcome.kind !== "refreshed") return;
    expect(outcome.db?.VulnerabilityDB?.Version).toBe(2);
    expect(outcome.db?.VulnerabilityDB?.UpdatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const calls = await readFakeTrivyCalls(recordFile);
    expect(calls.map((c) => c.argv.slice(0, 2))).toEqual([
      ["image", "--download-db-only"],
      ["image", "--download-java-db-only"],
      ["version", "--format"],
    ]);
    expect(calls[0]?.argv).toEqual(
      expect.arrayContaining([
        "--db-repository",
        "stewardtest.azurecr.io/mirror/trivy-db:2",
        "--cache-dir",
        cacheDir,
      ]),
    );
    expect(calls[1]?.argv).toEqual(
      expect.arrayContaining(["--java-db-repository", "stewardtest.azurecr.io/mirror/trivy-java-db:1"]),
    );
    for (const call of calls) {
      expect(call.credentials).toEqual({
        username: false,
        password: false,
        registryToken: false,
        usernameIsAcrTokenUser: false,
      });
      expect(call.sensitiveEnv).toEqual([]);
      // No Docker keychain of the worker's either.
      expect(call.home).not.toBe("/root");
      expect(call.dockerConfig).not.toBe("/root/.docker");
    }
  });

  it("reports a failed DB download without claiming success", async () => {
    const outcome = await runner({}, { FAKE_TRIVY_MODE: "db-download-fails" }).refreshDatabase({
      dbRepository: "ghcr.io/aquasecurity/trivy-db:2",
      cacheDir: path.join(root, "other-cache"),
    });
    expect(outcome.kind).toBe("failed");
    if (outcome.kind === "failed") {
      expect(outcome.reason).toContain("TOOMANYREQUESTS");
      expect(outcome.exitCode).toBe(1);
    }
  });

  it.each(FIXTURES)("scans fixtures/%s and returns the report Trivy wrote", async (fixture) => {
    const outcome = await runner().scan(target(`fixtures/${fixture}`), CREDENTIALS, { timeoutMs: 30_000 });
    expect(outcome.kind).toBe("scanned");
    if (outcome.kind !== "scanned") return;
    const golden = await readFixture(fixture);
    expect(outcome.reportJson).toBe(golden);
    expect(summarizeTrivyReport(outcome.report)).toEqual(summarizeTrivyReport(parseTrivyReportJson(golden)));
    expect(outcome.scanner?.Version).toBe("0.74.0");
    expect(outcome.scanner?.VulnerabilityDB?.Version).toBe(2);
    const summary = summarizeTrivyReport(outcome.report, { scanner: outcome.scanner });
    expect(summary.scanner.dbUpdatedAt).toBe(outcome.scanner?.VulnerabilityDB?.UpdatedAt);
  });

  it("calls trivy with the documented flags and the credentials only in its environment", async () => {
    await writeFile(recordFile, "");
    const scan = runner();
    await scan.scan(target("team/fixtures/debian-buster"), CREDENTIALS, {
      timeoutMs: 900_000,
      platform: "linux/arm64",
    });
    const calls = await readFakeTrivyCalls(recordFile);
    const image = calls.find((c) => c.command === "image");
    const version = calls.find((c) => c.command === "version");
    if (!image || !version) throw new Error("expected a scan and a version call");
    const argv = image.argv;
    const output = argv[argv.indexOf("--output") + 1];
    expect(output).toMatch(new RegExp(`^${workDir}/acr-steward-trivy-scan-[^/]+/report\\.json$`));
    expect(argv).toEqual([
      "image",
      "--format",
      "json",
      "--output",
      output,
      "--scanners",
      "vuln,secret",
      "--list-all-pkgs=false",
      "--skip-db-update",
      "--skip-java-db-update",
      "--cache-dir",
      cacheDir,
      "--cache-backend",
      "memory",
      "--image-src",
      "remote",
      "--timeout",
      "900s",
      "--no-progress",
      "--skip-version-check",
      "--disable-telemetry",
      "--platform",
      "linux/arm64",
      `${REGISTRY}/team/fixtures/debian-buster@${DIGEST}`,
    ]);
    expect(image.credentials).toEqual({
      username: true,
      password: true,
      registryToken: false,
      usernameIsAcrTokenUser: true,
    });
    // Only the two variables we set: nothing inherited from the worker (AZURE_*, IDENTITY_*, storage...).
    expect(image.sensitiveEnv).toEqual(["TRIVY_PASSWORD", "TRIVY_USERNAME"]);
    expect(JSON.stringify(argv)).not.toContain(PASSWORD);
    // The version call after the scan gets no credentials either.
    expect(version.credentials.password).toBe(false);
    expect(version.sensitiveEnv).toEqual([]);
    // Every per-run directory is gone afterwards.
    expect(await readdir(workDir)).toEqual([]);
  });

  it("hands over exactly the password the registry expects", async () => {
    const sha = createHash("sha256").update(PASSWORD).digest("hex");
    const strict = runner({}, { FAKE_TRIVY_REQUIRE_PASSWORD_SHA256: sha });
    const ok = await strict.scan(target("fixtures/alpine-39"), CREDENTIALS, { timeoutMs: 30_000 });
    expect(ok.kind).toBe("scanned");
    const wrong = await strict.scan(
      target("fixtures/alpine-39"),
      { username: ACR_REFRESH_TOKEN_USERNAME, password: "not-the-token" },
      { timeoutMs: 30_000 },
    );
    expect(expectFailure(wrong, "auth-failed", true).reason).toContain("UNAUTHORIZED");
    const anonymous = await strict.scan(target("fixtures/alpine-39"), null, { timeoutMs: 30_000 });
    expectFailure(anonymous, "auth-failed", true);
    expect((await lastCall()).credentials.password).toBe(false);
  });

  it.each([
    ["not-found", "image-gone", false, "MANIFEST_UNKNOWN"],
    ["name-unknown", "image-gone", false, "NAME_UNKNOWN"],
    ["unauthorized", "auth-failed", true, "UNAUTHORIZED"],
    ["forbidden", "auth-failed", true, "DENIED"],
    ["timeout", "timeout", true, "context deadline exceeded"],
    ["db-missing", "db-unavailable", true, "--skip-db-update cannot be specified on the first run"],
    ["cache-locked", "scan-error", true, "cache may be in use"],
    ["panic", "crashed", true, "nil pointer dereference"],
    ["segv", "crashed", true, "SIGSEGV"],
    ["oom", "crashed", true, "SIGKILL"],
    ["malformed", "malformed-output", true, "not valid JSON"],
    ["not-trivy", "malformed-output", true, "SchemaVersion"],
    ["no-output", "malformed-output", true, "no report file"],
  ] as const)("errors/%s → %s (retryable: %s)", async (mode, failure, retryable, inReason) => {
    const outcome = await runner().scan(target(`errors/${mode}`), CREDENTIALS, { timeoutMs: 30_000 });
    const failed = expectFailure(outcome, failure, retryable);
    expect(failed.reason).toContain(inReason);
    expect(failed.target).toEqual(target(`errors/${mode}`));
  });

  it("treats an image the registry does not have as gone", async () => {
    const outcome = await runner().scan(target("team/app"), CREDENTIALS, { timeoutMs: 30_000 });
    expectFailure(outcome, "image-gone", false);
  });

  it("passes Trivy's own timeout, and classifies its deadline message", async () => {
    const slow = runner(
      { killGraceMs: 10_000 },
      { FAKE_TRIVY_SLEEP_MS: "5000", FAKE_TRIVY_FIXTURE: "alpine-39" },
    );
    const outcome = await slow.scan(target("errors/slow"), CREDENTIALS, { timeoutMs: 1_000 });
    const failed = expectFailure(outcome, "timeout", true);
    expect(failed.exitCode).toBe(1);
    expect(failed.reason).toContain("context deadline exceeded");
    const patient = await runner(
      {},
      { FAKE_TRIVY_SLEEP_MS: "200", FAKE_TRIVY_FIXTURE: "alpine-39", FAKE_TRIVY_MODE: "slow" },
    ).scan(target("team/slow"), CREDENTIALS, { timeoutMs: 5_000 });
    expect(patient.kind).toBe("scanned");
  });

  it("kills a hung trivy and everything it started once its own timeout has passed", async () => {
    const pidFile = path.join(root, "hang.json");
    const outcome = await runner({}, { FAKE_TRIVY_PID_FILE: pidFile }).scan(
      target("errors/hang"),
      CREDENTIALS,
      {
        timeoutMs: 1_000,
      },
    );
    const failed = expectFailure(outcome, "timeout", true);
    expect(failed.exitCode).toBeNull();
    expect(failed.signal).toBe("SIGKILL"); // it ignored SIGTERM
    const { pid, childPid } = JSON.parse(await readFile(pidFile, "utf8")) as {
      pid: number;
      childPid: number;
    };
    expect(isAlive(pid)).toBe(false);
    expect(isAlive(childPid)).toBe(false);
    expect(await readdir(workDir)).toEqual([]);
  });

  it("stops a scan when the caller aborts", async () => {
    const controller = new AbortController();
    const pending = runner().scan(target("errors/hang"), CREDENTIALS, {
      timeoutMs: 60_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    expectFailure(await pending, "cancelled", true);
  });
});

describe("credentials never leave the scan's environment", () => {
  it("scrubs the password from the outcome, the logs and the diagnostics when Trivy prints it", async () => {
    logLines.length = 0;
    const outcome = await runner().scan(target("errors/leak-password"), CREDENTIALS, { timeoutMs: 30_000 });
    const failed = expectFailure(outcome, "auth-failed", true);
    expect(failed.diagnostics).toContain("[REDACTED]");
    const basic = Buffer.from(`${CREDENTIALS.username}:${PASSWORD}`).toString("base64");
    for (const text of [JSON.stringify(outcome), ...logLines]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(basic);
    }
    expect(logLines.length).toBeGreaterThan(0);
  });

  it("scrubs the password from a report that echoes it", async () => {
    logLines.length = 0;
    const outcome = await runner({}, { FAKE_TRIVY_FIXTURE: "alpine-39" }).scan(
      target("errors/leak-password-report"),
      CREDENTIALS,
      { timeoutMs: 30_000 },
    );
    expect(outcome.kind).toBe("scanned");
    expect(JSON.stringify(outcome)).not.toContain(PASSWORD);
    expect(logLines.join("\n")).not.toContain(PASSWORD);
    expect(logLines.join("\n")).toContain("scrubbed");
  });

  it("never puts the password in arguments, logs or outcomes of any scan", async () => {
    logLines.length = 0;
    await writeFile(recordFile, "");
    const outcomes = await Promise.all(
      ["fixtures/alpine-39", "errors/unauthorized", "errors/timeout", "errors/malformed"].map((repository) =>
        runner().scan(target(repository), CREDENTIALS, { timeoutMs: 30_000 }),
      ),
    );
    const everything = [
      JSON.stringify(outcomes),
      logLines.join("\n"),
      await readFile(recordFile, "utf8"),
    ].join("\n");
    expect(everything).not.toContain(PASSWORD);
  });

  it("refuses configuration that would hand credentials to every trivy call", () => {
    for (const name of [
      "TRIVY_PASSWORD",
      "TRIVY_USERNAME",
      "TRIVY_REGISTRY_TOKEN",
      "AZURE_CLIENT_SECRET",
      "IDENTITY_HEADER",
      "DOCKER_CONFIG",
    ]) {
      expect(() => runner({}, { [name]: "x" })).toThrow(ConfigurationError);
      expect(() => runner({ inheritEnv: [name] })).toThrow(ConfigurationError);
    }
  });
});

describe("TrivyRunner input checks", () => {
  it("refuses a target that is not a registry/repository@digest before starting anything", async () => {
    await writeFile(recordFile, "");
    const scan = runner();
    await expect(
      scan.scan({ registry: REGISTRY, repository: "--help", digest: DIGEST }, null, { timeoutMs: 1000 }),
    ).rejects.toThrow(ValidationError);
    await expect(
      scan.scan({ registry: REGISTRY, repository: "app", digest: "latest" }, null, { timeoutMs: 1000 }),
    ).rejects.toThrow(ValidationError);
    await expect(
      scan.scan({ registry: "-x", repository: "app", digest: DIGEST }, null, { timeoutMs: 1000 }),
    ).rejects.toThrow(ValidationError);
    await expect(scan.scan(target("app"), null, { timeoutMs: 0 })).rejects.toThrow(ValidationError);
    await expect(scan.scan(target("app"), null, { timeoutMs: 1000, platform: "--x" })).rejects.toThrow(
      ValidationError,
    );
    expect(await readFakeTrivyCalls(recordFile)).toEqual([]);
  });

  it("says so when the trivy executable is missing", async () => {
    const missing = runner({ trivyPath: path.join(root, "no-such-trivy") });
    const error = await missing.scan(target("fixtures/alpine-39"), CREDENTIALS, { timeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain("no-such-trivy");
    // The error, its cause chain and context carry no credentials (Node's spawn error lists arguments).
    expect(inspect(error, { depth: 10 })).not.toContain(PASSWORD);
    expect(await readdir(workDir)).toEqual([]);
  });

  it("needs an absolute cache dir", () => {
    expect(() => runner({ cacheDir: "relative/cache" })).toThrow(ConfigurationError);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("scanImage with the Trivy runner", () => {
  it("scans the platform children of an index by digest and aggregates their reports", async () => {
    const amd64 = `sha256:${"a".repeat(64)}`;
    const arm64 = `sha256:${"b".repeat(64)}`;
    await writeFile(recordFile, "");
    const result = await scanImage(
      {
        runner: runner({}, { FAKE_TRIVY_FIXTURE_BY_DIGEST: `${amd64}=ubuntu-1804,${arm64}=debian-buster` }),
        credentials: { credentialsFor: async () => CREDENTIALS },
        now: () => new Date("2026-11-27T10:00:00Z"),
      },
      {
        target: target("team/multiarch"),
        children: [
          { platform: "linux/amd64", digest: amd64 },
          { platform: "linux/arm64", digest: arm64 },
        ],
      },
      { timeoutMs: 30_000 },
    );
    expect(result.status).toBe("completed");
    if (result.status !== "completed") return;
    const summary = result.summary as AggregatedScanSummary;
    // ubuntu-1804: 5 findings on 2 ids; debian-buster: 2 findings on 2 ids; CVE-2019-18276 is in both.
    expect(summary.vulnerabilities.findingsTotal).toBe(7);
    expect(summary.vulnerabilities.uniqueTotal).toBe(3);
    expect(summary.scanner.dbVersion).toBe(2);
    const scans = (await readFakeTrivyCalls(recordFile)).filter((c) => c.command === "image");
    expect(scans.map((c) => c.argv.at(-1))).toEqual([
      `${REGISTRY}/team/multiarch@${amd64}`,
      `${REGISTRY}/team/multiarch@${arm64}`,
    ]);
  });
});
