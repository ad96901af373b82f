// A stand-in for the `trivy` CLI used by the scanning tests. It accepts the flags acr-steward passes
// (and refuses unknown ones like cobra does), replays real Trivy reports from the shared fixtures,
// keeps a fake vulnerability DB in --cache-dir, and fails in each way the reference documents.
// It records how it was called (arguments, and which credential variables were present, never their
// values) as JSON lines in $FAKE_TRIVY_RECORD.
//
// Control (environment):
//   FAKE_TRIVY_MODE       overrides the behaviour chosen from the target (see MODES)
//   FAKE_TRIVY_FIXTURE    fixture to replay when the repository is not `.../fixtures/<name>`
//   FAKE_TRIVY_FIXTURE_BY_DIGEST  `sha256:...=alpine-39,sha256:...=debian-buster`: fixture per digest
//                         (e.g. the platform children of an index); wins over the repository name
//   FAKE_TRIVY_FIXTURES   directory of *.json.golden (default: <repo>/../shared/fixtures/trivy)
//   FAKE_TRIVY_RECORD     file to append one JSON line per call to
//   FAKE_TRIVY_PID_FILE   where `hang` writes its own pid and its child's pid
//   FAKE_TRIVY_SLEEP_MS   how long `slow` works before answering (default 60000)
//   FAKE_TRIVY_REQUIRE_PASSWORD_SHA256  if set, the registry accepts only a TRIVY_PASSWORD with this
//                         sha256 (hex) and user 00000000-0000-0000-0000-000000000000; else UNAUTHORIZED
//   FAKE_TRIVY_VERSION    what `trivy version` reports (default 0.74.0)
// Target: `<registry>/.../fixtures/<fixture-name>@sha256:...` replays <fixture-name>.json.golden;
//         `<registry>/.../errors/<mode>@sha256:...` behaves as that mode; anything else is not found.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000";
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");

export const MODES = [
  "ok",
  "not-found",
  "name-unknown",
  "unauthorized",
  "forbidden",
  "timeout",
  "db-missing",
  "cache-locked",
  "panic",
  "segv",
  "oom",
  "malformed",
  "not-trivy",
  "no-output",
  "slow",
  "hang",
  "leak-password",
  "leak-password-report",
  "db-download-fails",
];

const VALUE_FLAGS = new Map([
  ["-f", "format"],
  ["--format", "format"],
  ["-o", "output"],
  ["--output", "output"],
  ["--scanners", "scanners"],
  ["--cache-dir", "cache-dir"],
  ["--cache-backend", "cache-backend"],
  ["--timeout", "timeout"],
  ["--image-src", "image-src"],
  ["--platform", "platform"],
  ["--db-repository", "db-repository"],
  ["--java-db-repository", "java-db-repository"],
  ["-s", "severity"],
  ["--severity", "severity"],
  ["--exit-code", "exit-code"],
  ["--exit-on-eol", "exit-on-eol"],
  ["--pkg-types", "pkg-types"],
  ["--ignore-status", "ignore-status"],
  ["--username", "username"],
  ["--password", "password"],
  ["--registry-token", "registry-token"],
  ["--parallel", "parallel"],
  ["--max-image-size", "max-image-size"],
]);

const BOOL_FLAGS = new Map([
  ["--list-all-pkgs", "list-all-pkgs"],
  ["--skip-db-update", "skip-db-update"],
  ["--skip-java-db-update", "skip-java-db-update"],
  ["--skip-check-update", "skip-check-update"],
  ["--download-db-only", "download-db-only"],
  ["--download-java-db-only", "download-java-db-only"],
  ["--no-progress", "no-progress"],
  ["-q", "quiet"],
  ["--quiet", "quiet"],
  ["-d", "debug"],
  ["--debug", "debug"],
  ["--skip-version-check", "skip-version-check"],
  ["--disable-telemetry", "disable-telemetry"],
  ["--ignore-unfixed", "ignore-unfixed"],
  ["--offline-scan", "offline-scan"],
  ["--insecure", "insecure"],
]);

class UsageError extends Error {}

export function parseArgs(argv) {
  const flags = {};
  const positionals = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`flag needs an argument: ${name}`);
      flags[VALUE_FLAGS.get(name)] = value;
    } else if (BOOL_FLAGS.has(name)) {
      if (inline !== undefined && inline !== "true" && inline !== "false") {
        throw new UsageError(
          `invalid argument "${inline}" for "${name}" flag: strconv.ParseBool: parsing "${inline}": invalid syntax`,
        );
      }
      flags[BOOL_FLAGS.get(name)] = inline !== "false";
    } else {
      throw new UsageError(`unknown flag: ${name}`);
    }
  }
  return { flags, positionals };
}

/** Go durations as Trivy accepts them: 90s, 5m, 1h30m, 1500ms. */
export function parseGoDuration(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const match of text.matchAll(re)) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2]];
    total += Number(match[1]) * unit;
    consumed += match[0].length;
  }
  if (consumed !== text.length || text === "")
    throw new UsageError(`invalid argument "${text}" for "--timeout" flag: time: invalid duration "${text}"`);
  return total;
}

function timestamp() {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function log(level, message) {
  process.stderr.write(`${timestamp()}\t${level}\t${message}\n`);
}

function fatal(message) {
  log("FATAL", `Fatal error\t${message}`);
  process.exit(1);
}

function credentialState() {
  const env = process.env;
  return {
    username: env.TRIVY_USERNAME !== undefined && env.TRIVY_USERNAME !== "",
    password: env.TRIVY_PASSWORD !== undefined && env.TRIVY_PASSWORD !== "",
    registryToken: env.TRIVY_REGISTRY_TOKEN !== undefined && env.TRIVY_REGISTRY_TOKEN !== "",
    usernameIsAcrTokenUser: env.TRIVY_USERNAME === ACR_TOKEN_USER,
  };
}

/** Names only: which variables that could authenticate somewhere were visible to us. */
function sensitiveEnvNames() {
  return Object.keys(process.env)
    .filter((name) =>
      /^(TRIVY_|AZURE_|IDENTITY_|MSI_|IMDS_|AWS_|GOOGLE_|ACR_STEWARD_|REGISTRY_TOKEN$)/.test(name),
    )
    .sort();
}

function record(entry) {
  const file = process.env.FAKE_TRIVY_RECORD;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}

function fixturesDir() {
  return process.env.FAKE_TRIVY_FIXTURES ?? path.resolve(repoRoot, "../shared/fixtures/trivy");
}

/** `<registry>/<repository>@<digest>` split the way a registry client would. */
function parseTarget(reference) {
  const at = reference.indexOf("@");
  const name = at >= 0 ? reference.slice(0, at) : reference;
  const digest = at >= 0 ? reference.slice(at + 1) : "latest";
  const slash = name.indexOf("/");
  const registry = slash >= 0 ? name.slice(0, slash) : "index.docker.io";
  const repository = slash >= 0 ? name.slice(slash + 1) : `library/${name}`;
  return { registry, repository, digest };
}

function modeFor(target) {
  if (process.env.FAKE_TRIVY_MODE) return process.env.FAKE_TRIVY_MODE;
  const match = /(?:^|\/)errors\/([a-z0-9-]+)$/.exec(target.repository);
  return match ? match[1] : "ok";
}

function fixtureFor(target) {
  const byDigest = (process.env.FAKE_TRIVY_FIXTURE_BY_DIGEST ?? "")
    .split(",")
    .map((pair) => pair.split("="))
    .find(([digest]) => digest === target.digest);
  if (byDigest?.[1]) return byDigest[1];
  const match = /(?:^|\/)fixtures\/([a-z0-9._-]+)$/.exec(target.repository);
  return match ? match[1] : process.env.FAKE_TRIVY_FIXTURE;
}

function remoteError(reference, detail) {
  fatal(
    `run error: image scan error: scan error: unable to initialize a scan service: unable to initialize an image scan service: unable to find the specified image "${reference}" in ["remote"]: 1 error occurred:\n\t* remote error: ${detail}\n`,
  );
}

function dbMetadataPath(cacheDir, kind = "db") {
  return path.join(cacheDir, kind, "metadata.json");
}

function writeDb(cacheDir, kind) {
  const dir = path.join(cacheDir, kind);
  mkdirSync(dir, { recursive: true });
  const now = new Date();
  const updatedAt = new Date(Math.floor(now.getTime() / 21_600_000) * 21_600_000);
  const metadata = {
    Version: kind === "db" ? 2 : 1,
    NextUpdate: new Date(updatedAt.getTime() + 21_600_000).toISOString(),
    UpdatedAt: updatedAt.toISOString(),
    DownloadedAt: now.toISOString(),
  };
  writeFileSync(path.join(dir, "metadata.json"), JSON.stringify(metadata));
  writeFileSync(path.join(dir, kind === "db" ? "trivy.db" : "trivy-java.db"), "fake bolt db\n");
}

function defaultCacheDir() {
  return path.join(process.env.HOME ?? "/nonexistent", ".cache", "trivy");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function versionCommand(flags) {
  const cacheDir = flags["cache-dir"] ?? defaultCacheDir();
  const info = { Version: process.env.FAKE_TRIVY_VERSION ?? "0.74.0" };
  for (const [key, kind] of [
    ["VulnerabilityDB", "db"],
    ["JavaDB", "java-db"],
  ]) {
    const file = dbMetadataPath(cacheDir, kind);
    if (existsSync(file)) info[key] = JSON.parse(readFileSync(file, "utf8"));
  }
  if (flags.format === "json") process.stdout.write(`${JSON.stringify(info)}\n`);
  else process.stdout.write(`Version: ${info.Version}\n`);
  process.exit(0);
}

function downloadDb(flags, mode) {
  const cacheDir = flags["cache-dir"] ?? defaultCacheDir();
  if (flags["download-db-only"]) {
    const repository = flags["db-repository"] ?? "mirror.gcr.io/aquasec/trivy-db:2";
    log("INFO", "[vulndb] Need to update DB");
    log("INFO", `[vulndb] Downloading vulnerability DB...\trepository="${repository}"`);
    if (mode === "db-download-fails") {
      const [host, ...rest] = repository.split("/");
      const name = rest.join("/").replace(/:[^:]*$/, "");
      fatal(
        `run error: init error: DB error: failed to download vulnerability DB: OCI artifact error: failed to download vulnerability DB: failed to download artifact from ${repository}: OCI repository error: GET https://${host}/v2/${name}/manifests/2: TOOMANYREQUESTS: retry-after: 1.2ms, allowed: 44000/minute`,
      );
    }
    writeDb(cacheDir, "db");
  }
  if (flags["download-java-db-only"]) {
    const repository = flags["java-db-repository"] ?? "mirror.gcr.io/aquasec/trivy-java-db:1";
    log("INFO", `[javadb] Downloading Java DB...\trepository="${repository}"`);
    writeDb(cacheDir, "java-db");
  }
  process.exit(0);
}

function writeReport(flags, text) {
  if (flags.output) writeFileSync(flags.output, text);
  else process.stdout.write(text);
}

async function scan(flags, reference, mode) {
  const target = parseTarget(reference);
  const cacheDir = flags["cache-dir"] ?? defaultCacheDir();
  if (flags.format !== "json") throw new UsageError("the stand-in trivy writes only --format json");
  const timeoutMs = parseGoDuration(flags.timeout ?? "5m");

  // Like Trivy, the DB is opened before the image is touched.
  if (mode === "db-missing" || (flags["skip-db-update"] && !existsSync(dbMetadataPath(cacheDir)))) {
    fatal("run error: init error: DB error: --skip-db-update cannot be specified on the first run");
  }
  if (!flags["skip-db-update"]) writeDb(cacheDir, "db");
  log("INFO", "[vuln] Vulnerability scanning is enabled");
  if ((flags.scanners ?? "vuln,secret").split(",").includes("secret"))
    log("INFO", "[secret] Secret scanning is enabled");

  const manifestUrl = `https://${target.registry}/v2/${target.repository}/manifests/${target.digest}`;
  const tokenUrl = `https://${target.registry}/oauth2/token?scope=repository%3A${encodeURIComponent(target.repository)}%3Apull&service=${target.registry}`;
  const unauthorized = () =>
    remoteError(
      reference,
      `GET ${tokenUrl}: UNAUTHORIZED: authentication required, visit https://aka.ms/acr/authorization for more information.`,
    );

  const requiredSha = process.env.FAKE_TRIVY_REQUIRE_PASSWORD_SHA256;
  if (requiredSha) {
    const given = process.env.TRIVY_PASSWORD ?? "";
    const digest = createHash("sha256").update(given).digest("hex");
    if (process.env.TRIVY_USERNAME !== ACR_TOKEN_USER || digest !== requiredSha) unauthorized();
  }

  switch (mode) {
    case "not-found":
      return remoteError(
        reference,
        `GET ${manifestUrl}: MANIFEST_UNKNOWN: manifest ${target.digest} is not found`,
      );
    case "name-unknown":
      return remoteError(
        reference,
        `GET ${manifestUrl}: NAME_UNKNOWN: repository name not known to registry; map[name:${target.repository}]`,
      );
    case "unauthorized":
      return unauthorized();
    case "forbidden":
      return remoteError(reference, `GET ${manifestUrl}: DENIED: requested access to the resource is denied`);
    case "timeout":
      return fatal(
        "run error: image scan error: scan error: scan failed: failed analysis: analyze error: timeout: context deadline exceeded",
      );
    case "cache-locked":
      return fatal(
        "run error: cache error: unable to initialize fs cache: cache may be in use by another process: timeout",
      );
    case "panic":
      process.stderr.write(
        "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1c3a2f0]\n\ngoroutine 1 [running]:\ngithub.com/aquasecurity/trivy/pkg/fanal/artifact/image.(*Artifact).Inspect(0x0)\n\t/home/runner/work/trivy/trivy/pkg/fanal/artifact/image/image.go:104 +0x30\n",
      );
      return process.exit(2);
    case "segv":
      process.kill(process.pid, "SIGSEGV");
      return sleep(10_000);
    case "oom":
      process.kill(process.pid, "SIGKILL");
      return sleep(10_000);
    case "leak-password": {
      // What a careless debug log could print: the password, and the Basic header built from it.
      const basic = Buffer.from(
        `${process.env.TRIVY_USERNAME ?? ""}:${process.env.TRIVY_PASSWORD ?? ""}`,
      ).toString("base64");
      log(
        "DEBUG",
        `registry auth: password=${process.env.TRIVY_PASSWORD ?? ""} header="Authorization: Basic ${basic}"`,
      );
      return remoteError(
        reference,
        `GET ${tokenUrl}: UNAUTHORIZED: credentials ${process.env.TRIVY_PASSWORD ?? ""} were rejected`,
      );
    }
    case "hang": {
      // Ignores SIGTERM and leaves a grandchild behind: only killing the process group ends both.
      process.on("SIGTERM", () => log("WARN", "ignoring SIGTERM"));
      const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
      if (process.env.FAKE_TRIVY_PID_FILE) {
        writeFileSync(
          process.env.FAKE_TRIVY_PID_FILE,
          JSON.stringify({ pid: process.pid, childPid: child.pid }),
        );
      }
      setInterval(() => {}, 1000);
      return new Promise(() => {});
    }
    case "slow": {
      const workMs = Number(process.env.FAKE_TRIVY_SLEEP_MS ?? "60000");
      if (timeoutMs < workMs) {
        await sleep(timeoutMs);
        return fatal(
          "run error: image scan error: scan error: scan failed: failed analysis: analyze error: timeout: context deadline exceeded",
        );
      }
      await sleep(workMs);
      break;
    }
    case "ok":
    case "malformed":
    case "not-trivy":
    case "no-output":
    case "leak-password-report":
      break;
    default:
      throw new UsageError(`the stand-in trivy has no mode '${mode}' (known: ${MODES.join(", ")})`);
  }

  const fixture = fixtureFor(target);
  if (mode === "malformed")
    return writeReport(flags, '{\n  "SchemaVersion": 2,\n  "Results": [\n    {\n      "Target": "trunc');
  if (mode === "not-trivy")
    return writeReport(flags, JSON.stringify({ SchemaVersion: 1, Vulnerabilities: [] }));
  if (mode === "no-output") return;
  if (!fixture)
    return remoteError(
      reference,
      `GET ${manifestUrl}: MANIFEST_UNKNOWN: manifest ${target.digest} is not found`,
    );
  const file = path.join(fixturesDir(), `${fixture}.json.golden`);
  if (!existsSync(file))
    return remoteError(
      reference,
      `GET ${manifestUrl}: MANIFEST_UNKNOWN: manifest ${target.digest} is not found`,
    );
  let text = readFileSync(file, "utf8");
  if (mode === "leak-password-report") {
    const report = JSON.parse(text);
    report.ArtifactName = `${reference}?token=${process.env.TRIVY_PASSWORD ?? ""}`;
    text = JSON.stringify(report, null, 2);
  }
  log("INFO", `[fake] replaying fixture\tname="${fixture}"`);
  writeReport(flags, text);
}

export async function main(argv) {
  try {
    const { flags, positionals } = parseArgs(argv);
    const [command, ...rest] = positionals;
    const reference = rest[0];
    const target = reference ? parseTarget(reference) : undefined;
    const mode = target ? modeFor(target) : (process.env.FAKE_TRIVY_MODE ?? "ok");
    record({
      argv,
      command: command ?? null,
      mode,
      credentials: credentialState(),
      sensitiveEnv: sensitiveEnvNames(),
      home: process.env.HOME ?? null,
      dockerConfig: process.env.DOCKER_CONFIG ?? null,
      tmpdir: process.env.TMPDIR ?? null,
    });
    if (command === "version") return versionCommand(flags);
    if (command !== "image") throw new UsageError(`unknown command "${command ?? ""}" for "trivy"`);
    if (flags["download-db-only"] || flags["download-java-db-only"]) return downloadDb(flags, mode);
    if (rest.length !== 1)
      throw new UsageError(`"trivy image" requires exactly 1 argument (got ${rest.length})`);
    await scan(flags, reference, mode);
    process.exit(0);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`Error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
