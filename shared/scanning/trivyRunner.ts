import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigurationError, ValidationError } from "../errors/index.js";
import { classifyTrivyExit, fatalMessage } from "./classifyTrivyFailure.js";
import { TrivyReportError } from "./errors.js";
import { type ProcessResult, runProcess, SpawnError } from "./processRunner.js";
import { redactSecrets, secretVariants } from "./redact.js";
import {
  type DatabaseRefresher,
  type DatabaseRefreshOutcome,
  type DatabaseRefreshRequest,
  imageReference,
  isRetryableFailure,
  type RegistryCredentials,
  type ScanFailed,
  type ScanFailureKind,
  type ScanOptions,
  type ScanOutcome,
  type ScanRunner,
  type ScanTarget,
  ScanTargetSchema,
} from "./scanRunner.js";
import { parseTrivyReportJson, parseTrivyVersionInfoJson, type TrivyVersionInfo } from "./trivyReport.js";

/**
 * The ScanRunner and DatabaseRefresher ports implemented by running the `trivy` executable.
 *
 * Credentials reach Trivy only as TRIVY_USERNAME / TRIVY_PASSWORD in the scan's environment: never
 * as arguments (visible to every user through `ps`), never in the DB refresh or version calls, and
 * never in what we log or return (stderr and the report are scrubbed). The child environment is
 * built from an allow-list, so the worker's own secrets (storage connection strings, managed
 * identity endpoints, AZURE_*) never reach Trivy, and HOME / DOCKER_CONFIG point at empty per-run
 * directories so that no Docker keychain entry is picked up either.
 */

export interface ScanLogger {
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
}

const silentLogger: ScanLogger = { info: () => {}, warn: () => {} };

export type TrivyScanner = "vuln" | "secret" | "misconfig" | "license";

export interface TrivyRunnerConfig {
  /** Path of the trivy executable (default: `trivy` from PATH). */
  readonly trivyPath?: string;
  /** Trivy's cache dir: holds db/ and java-db/ written by the refresh step and read by scans. */
  readonly cacheDir: string;
  /** Where per-run temp dirs (report file, TMPDIR, HOME) are made; default the OS temp dir. */
  readonly workDir?: string;
  /** Default `vuln,secret` (Trivy's own default for images). */
  readonly scanners?: readonly TrivyScanner[];
  /** Time past Trivy's own --timeout before we kill it ourselves. Default 30 s. */
  readonly killGraceMs?: number;
  /** Time between SIGTERM and SIGKILL. Default 5 s. */
  readonly termGraceMs?: number;
  /** Limit of the `trivy version` call made after each scan and refresh. Default 30 s. */
  readonly versionTimeoutMs?: number;
  /** Default limit of a DB refresh. Default 10 min. */
  readonly refreshTimeoutMs?: number;
  /** Largest report we read (bytes). Default 512 MiB. */
  readonly maxReportBytes?: number;
  /** Environment to take allowed variables from (default process.env). */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /** Names copied from baseEnv in addition to the defaults (PATH, proxies, CA files, Go runtime knobs). */
  readonly inheritEnv?: readonly string[];
  /** Extra variables for every trivy call (e.g. TRIVY_INSECURE for a test registry). Credential names are refused. */
  readonly extraEnv?: Readonly<Record<string, string>>;
  readonly logger?: ScanLogger;
}

/** Variables Trivy may legitimately need from the worker: paths, locale, proxies, CA bundles, Go runtime. */
export const DEFAULT_INHERITED_ENV: readonly string[] = [
  "PATH",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TZ",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "GOMEMLIMIT",
  "GOMAXPROCS",
  "GOGC",
];

/** Never copied or accepted: anything that authenticates to a registry or a cloud. */
const CREDENTIAL_ENV =
  /^(?:TRIVY_(?:USERNAME|PASSWORD|REGISTRY_TOKEN|TOKEN|PASSWORD_STDIN)$|AZURE_|IDENTITY_|MSI_|IMDS_|AWS_|GOOGLE_|DOCKER_CONFIG$|HOME$|REGISTRY_TOKEN$|ACR_STEWARD_)/;

export function isCredentialEnvName(name: string): boolean {
  return CREDENTIAL_ENV.test(name);
}

const QUIET_FLAGS = ["--no-progress", "--skip-version-check", "--disable-telemetry"] as const;

export class TrivyRunner implements ScanRunner, DatabaseRefresher {
  private readonly trivyPath: string;
  private readonly scanners: readonly TrivyScanner[];
  private readonly logger: ScanLogger;
  private readonly inheritedEnv: Record<string, string>;

  constructor(private readonly config: TrivyRunnerConfig) {
    if (!path.isAbsolute(config.cacheDir)) {
      throw new ConfigurationError(`the Trivy cache dir must be an absolute path (got '${config.cacheDir}')`);
    }
    this.trivyPath = config.trivyPath ?? "trivy";
    this.scanners = config.scanners ?? ["vuln", "secret"];
    if (this.scanners.length === 0)
      throw new ConfigurationError("at least one Trivy scanner must be enabled");
    this.logger = config.logger ?? silentLogger;
    const inherit = [...DEFAULT_INHERITED_ENV, ...(config.inheritEnv ?? [])];
    for (const name of [...inherit, ...Object.keys(config.extraEnv ?? {})]) {
      if (isCredentialEnvName(name)) {
        throw new ConfigurationError(
          `'${name}' may not be passed to Trivy: registry credentials are given per scan, never through configuration`,
        );
      }
    }
    const base = config.baseEnv ?? process.env;
    this.inheritedEnv = {};
    for (const name of inherit) {
      const value = base[name];
      if (value !== undefined) this.inheritedEnv[name] = value;
    }
    Object.assign(this.inheritedEnv, config.extraEnv ?? {});
  }

  /** The arguments of a scan (exposed for tests and docs; no credentials can appear in them). */
  scanArguments(
    target: ScanTarget,
    outputFile: string,
    options: Pick<ScanOptions, "timeoutMs" | "platform">,
  ): string[] {
    return [
      "image",
      "--format",
      "json",
      "--output",
      outputFile,
      "--scanners",
      this.scanners.join(","),
      "--list-all-pkgs=false",
      "--skip-db-update",
      "--skip-java-db-update",
      "--cache-dir",
      this.config.cacheDir,
      // One-shot scans: an in-memory layer cache avoids the per-process lock of the fs cache.
      "--cache-backend",
      "memory",
      "--image-src",
      "remote",
      "--timeout",
      goDuration(options.timeoutMs),
      ...QUIET_FLAGS,
      ...(options.platform ? ["--platform", options.platform] : []),
      imageReference(target),
    ];
  }

  async scan(
    target: ScanTarget,
    credentials: RegistryCredentials | null,
    options: ScanOptions,
  ): Promise<ScanOutcome> {
    const checked = ScanTargetSchema.safeParse(target);
    if (!checked.success) {
      throw new ValidationError(
        `invalid scan target: ${checked.error.issues.map((i) => i.message).join("; ")}`,
        {
          cause: checked.error,
        },
      );
    }
    // The login server comes back lower-cased; the reference Trivy sees is the normalized one.
    const scanTarget = checked.data;
    checkTimeout(options.timeoutMs);
    if (options.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/.test(options.platform)) {
      throw new ValidationError(`invalid platform '${options.platform}' (expected os/arch[/variant])`);
    }
    const secrets = secretVariants(credentials);
    const reference = imageReference(scanTarget);
    return this.withRunDir("scan", async (runDir, env) => {
      const outputFile = path.join(runDir, "report.json");
      const args = this.scanArguments(scanTarget, outputFile, options);
      if (credentials !== null) {
        env.TRIVY_USERNAME = credentials.username;
        env.TRIVY_PASSWORD = credentials.password;
      }
      this.logger.info("trivy scan started", {
        image: reference,
        args,
        withCredentials: credentials !== null,
        timeoutMs: options.timeoutMs,
      });
      const result = await this.run(
        args,
        env,
        options.timeoutMs + (this.config.killGraceMs ?? 30_000),
        options.signal,
      );
      const outcome = await this.judgeScan(scanTarget, result, outputFile, secrets);
      if (outcome.kind === "scanned") {
        const scanner = await this.version(options.signal);
        const done = { ...outcome, scanner };
        this.logger.info("trivy scan finished", {
          image: reference,
          durationMs: result.durationMs,
          trivyVersion: scanner?.Version,
        });
        return done;
      }
      this.logger.warn("trivy scan failed", {
        image: reference,
        failure: outcome.failure,
        retryable: outcome.retryable,
        exitCode: outcome.exitCode,
        signal: outcome.signal,
        reason: outcome.reason,
        durationMs: result.durationMs,
      });
      return outcome;
    });
  }

  /** `trivy image --download-db-only` (and the Java DB), with no registry credentials in reach. */
  async refreshDatabase(request: DatabaseRefreshRequest): Promise<DatabaseRefreshOutcome> {
    const cacheDir = request.cacheDir ?? this.config.cacheDir;
    if (!path.isAbsolute(cacheDir))
      throw new ConfigurationError(`the Trivy cache dir must be absolute (got '${cacheDir}')`);
    if (request.dbRepository.trim() === "" || request.dbRepository.startsWith("-")) {
      throw new ConfigurationError(`invalid Trivy DB repository '${request.dbRepository}'`);
    }
    if (
      request.javaDbRepository !== undefined &&
      (request.javaDbRepository.trim() === "" || request.javaDbRepository.startsWith("-"))
    ) {
      throw new ConfigurationError(`invalid Trivy Java DB repository '${request.javaDbRepository}'`);
    }
    const timeoutMs = request.timeoutMs ?? this.config.refreshTimeoutMs ?? 600_000;
    checkTimeout(timeoutMs);
    const steps: string[][] = [["image", "--download-db-only", "--db-repository", request.dbRepository]];
    if (request.includeJavaDb ?? true) {
      steps.push([
        "image",
        "--download-java-db-only",
        ...(request.javaDbRepository ? ["--java-db-repository", request.javaDbRepository] : []),
      ]);
    }
    const started = Date.now();
    for (const step of steps) {
      const args = [...step, "--cache-dir", cacheDir, "--timeout", goDuration(timeoutMs), ...QUIET_FLAGS];
      const outcome = await this.withRunDir("db", async (_runDir, env) => {
        this.logger.info("trivy DB refresh started", { args });
        const result = await this.run(
          args,
          env,
          timeoutMs + (this.config.killGraceMs ?? 30_000),
          request.signal,
        );
        if (result.exitCode === 0 && !result.timedOut && !result.aborted) return undefined;
        const diagnostics = diagnosticsOf(result, []);
        const reason = result.timedOut
          ? `the DB refresh did not finish within ${timeoutMs} ms`
          : result.aborted
            ? "the DB refresh was cancelled"
            : result.exitCode === null
              ? `trivy was killed by ${result.signal ?? "a signal"} during the DB refresh`
              : fatalMessage(diagnostics);
        return { exitCode: result.exitCode, signal: result.signal, reason, diagnostics };
      });
      if (outcome !== undefined) {
        this.logger.warn("trivy DB refresh failed", {
          args,
          reason: outcome.reason,
          exitCode: outcome.exitCode,
        });
        return { kind: "failed", ...outcome, durationMs: Date.now() - started };
      }
    }
    const db = await this.version(request.signal, cacheDir);
    this.logger.info("trivy DB refreshed", {
      dbUpdatedAt: db?.VulnerabilityDB?.UpdatedAt,
      durationMs: Date.now() - started,
    });
    return { kind: "refreshed", db, durationMs: Date.now() - started };
  }

  /** `trivy version --format json`: Trivy's version and the DB in the cache. Undefined if it fails. */
  async version(
    signal?: AbortSignal,
    cacheDir: string = this.config.cacheDir,
  ): Promise<TrivyVersionInfo | undefined> {
    return this.withRunDir("version", async (_runDir, env) => {
      const args = ["version", "--format", "json", "--cache-dir", cacheDir];
      let result: ProcessResult;
      try {
        result = await this.run(args, env, this.config.versionTimeoutMs ?? 30_000, signal);
      } catch (error) {
        if (error instanceof ConfigurationError) throw error;
        this.logger.warn("trivy version failed", { error: String(error) });
        return undefined;
      }
      if (result.exitCode !== 0) {
        this.logger.warn("trivy version failed", {
          exitCode: result.exitCode,
          signal: result.signal,
          reason: fatalMessage(redactSecrets(result.stderr)),
        });
        return undefined;
      }
      try {
        return parseTrivyVersionInfoJson(result.stdout);
      } catch (error) {
        this.logger.warn("trivy version printed something unexpected", { error: String(error) });
        return undefined;
      }
    });
  }

  private async run(
    args: readonly string[],
    env: Record<string, string>,
    deadlineMs: number,
    signal: AbortSignal | undefined,
  ): Promise<ProcessResult> {
    try {
      return await runProcess({
        command: this.trivyPath,
        args,
        env,
        deadlineMs,
        termGraceMs: this.config.termGraceMs ?? 5_000,
        signal,
      });
    } catch (error) {
      if (error instanceof SpawnError) {
        throw new ConfigurationError(
          `cannot run trivy at '${this.trivyPath}' (${error.code ?? error.message})`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  /** A private temp dir per call (report file, TMPDIR, empty HOME and DOCKER_CONFIG), always removed. */
  private async withRunDir<T>(
    purpose: string,
    body: (runDir: string, env: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const parent = this.config.workDir ?? tmpdir();
    const runDir = await mkdtemp(path.join(parent, `acr-steward-trivy-${purpose}-`));
    try {
      const home = path.join(runDir, "home");
      const dockerConfig = path.join(runDir, "docker-config");
      const tmp = path.join(runDir, "tmp");
      await Promise.all([mkdir(home), mkdir(dockerConfig), mkdir(tmp)]);
      const env = { ...this.inheritedEnv, HOME: home, DOCKER_CONFIG: dockerConfig, TMPDIR: tmp };
      return await body(runDir, env);
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }

  private async judgeScan(
    target: ScanTarget,
    result: ProcessResult,
    outputFile: string,
    secrets: readonly string[],
  ): Promise<ScanOutcome> {
    const diagnostics = diagnosticsOf(result, secrets);
    const failed = (failure: ScanFailureKind, reason: string): ScanFailed => ({
      kind: "failed",
      target,
      failure,
      retryable: isRetryableFailure(failure),
      reason: redactSecrets(reason, secrets),
      exitCode: result.exitCode,
      signal: result.signal,
      diagnostics,
      durationMs: result.durationMs,
    });
    if (result.aborted) return failed("cancelled", "the scan was cancelled");
    if (result.timedOut) {
      return failed(
        "timeout",
        `trivy did not finish within its timeout plus grace and was killed (${result.durationMs} ms)`,
      );
    }
    if (result.exitCode !== 0) {
      const { failure, reason } = classifyTrivyExit({
        exitCode: result.exitCode,
        signal: result.signal,
        stderr: diagnostics,
      });
      return failed(failure, reason);
    }
    let json: string;
    try {
      const size = (await stat(outputFile)).size;
      const limit = this.config.maxReportBytes ?? 512 * 1024 * 1024;
      if (size > limit)
        return failed("malformed-output", `the report is ${size} bytes, more than the ${limit} we read`);
      json = await readFile(outputFile, "utf8");
    } catch {
      return failed("malformed-output", "trivy exited 0 but wrote no report file");
    }
    const scrubbed = redactSecrets(json, secrets, { tokenPatterns: false });
    if (scrubbed !== json) {
      this.logger.warn("the Trivy report contained credential-like text; it was scrubbed", {
        image: imageReference(target),
      });
    }
    try {
      const report = parseTrivyReportJson(scrubbed);
      return {
        kind: "scanned",
        target,
        report,
        reportJson: scrubbed,
        scanner: undefined,
        durationMs: result.durationMs,
      };
    } catch (error) {
      if (error instanceof TrivyReportError) return failed("malformed-output", error.message);
      throw error;
    }
  }
}

/**
 * The end of stderr with credentials removed. When the kept text is only the tail, its first
 * characters may be the rest of a cut secret, which the full-secret scrub would miss: drop them.
 */
function diagnosticsOf(result: ProcessResult, secrets: readonly string[]): string {
  let text = result.stderr;
  if (result.stderrTruncated) {
    const longest = Math.max(0, ...secrets.map((secret) => secret.length));
    const firstNewline = text.indexOf("\n", longest);
    text = firstNewline >= 0 ? text.slice(firstNewline + 1) : text.slice(longest);
  }
  const scrubbed = redactSecrets(text, secrets);
  return scrubbed.length > 8192 ? scrubbed.slice(scrubbed.length - 8192) : scrubbed;
}

function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new ValidationError(
      `the scan timeout must be a positive number of milliseconds (got ${timeoutMs})`,
    );
  }
}

/** Trivy reads Go durations; whole seconds, rounded up so a short timeout never becomes 0s. */
export function goDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}
