import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema } from "../oci/reference.js";
import type { TrivyReport, TrivyVersionInfo } from "./trivyReport.js";

/**
 * The port through which the scan worker runs a scanner. The worker (queue handling, storage) only
 * sees outcomes; how the scanner is started, fed credentials and judged lives in the adapter
 * (trivyRunner.ts).
 */

/** What to scan: always by digest, so the result belongs to exactly one manifest. */
export const ScanTargetSchema = z.object({
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  digest: DigestSchema,
});
export type ScanTarget = z.infer<typeof ScanTargetSchema>;

export function imageReference(target: ScanTarget): string {
  return `${target.registry}/${target.repository}@${target.digest}`;
}

/** Registry credentials for one scan. Never logged, never stored, never passed as an argument. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** ACR accepts this fixed user name with an ACR refresh token as the password. */
export const ACR_REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000";

export function acrRefreshTokenCredentials(refreshToken: string): RegistryCredentials {
  return { username: ACR_REFRESH_TOKEN_USERNAME, password: refreshToken };
}

export interface ScanOptions {
  /** Trivy's own `--timeout`; the process is killed if it is still running a grace period later. */
  readonly timeoutMs: number;
  /** For a digest that is an index: which platform to scan (Trivy picks linux/amd64 otherwise). */
  readonly platform?: string;
  /** Stops the scan (kills the process tree); the outcome is `cancelled`. */
  readonly signal?: AbortSignal;
}

/**
 * Why a scan produced no report. Only `image-gone` is final: the manifest no longer exists, so
 * retrying cannot help. Everything else may succeed later (new token, more time, refreshed DB...).
 */
export const ScanFailureKindSchema = z.enum([
  /** The registry says the manifest or repository does not exist (MANIFEST_UNKNOWN, NAME_UNKNOWN, 404). */
  "image-gone",
  /** The registry refused our credentials (401/403, UNAUTHORIZED, DENIED). */
  "auth-failed",
  /** Trivy's `--timeout` expired, or we killed it after our own deadline. */
  "timeout",
  /** Killed by a signal (OOM killer, SIGSEGV) or exited with an unexpected code (Go panic: 2). */
  "crashed",
  /** Exit 0 but no report, or a report that is not valid Trivy JSON. */
  "malformed-output",
  /** The vulnerability DB is missing or unusable: run the DB refresh first. */
  "db-unavailable",
  /** The caller aborted the scan. */
  "cancelled",
  /** Any other fatal Trivy error (cache lock, disk full, bad flag...). */
  "scan-error",
]);
export type ScanFailureKind = z.infer<typeof ScanFailureKindSchema>;

const RETRYABLE: Readonly<Record<ScanFailureKind, boolean>> = {
  "image-gone": false,
  "auth-failed": true,
  timeout: true,
  crashed: true,
  "malformed-output": true,
  "db-unavailable": true,
  cancelled: true,
  "scan-error": true,
};

export function isRetryableFailure(kind: ScanFailureKind): boolean {
  return RETRYABLE[kind];
}

export interface ScanSucceeded {
  readonly kind: "scanned";
  readonly target: ScanTarget;
  /** The validated report. */
  readonly report: TrivyReport;
  /** The report text as Trivy wrote it (credentials scrubbed), for the blob archive. */
  readonly reportJson: string;
  /** `trivy version --format json` taken right after the scan; undefined if that call failed. */
  readonly scanner: TrivyVersionInfo | undefined;
  readonly durationMs: number;
}

export interface ScanFailed {
  readonly kind: "failed";
  readonly target: ScanTarget;
  readonly failure: ScanFailureKind;
  readonly retryable: boolean;
  /** One-paragraph explanation (Trivy's FATAL message when there is one), credentials scrubbed. */
  readonly reason: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The end of Trivy's stderr, credentials scrubbed, for the poison-queue record. */
  readonly diagnostics: string;
  readonly durationMs: number;
}

export type ScanOutcome = ScanSucceeded | ScanFailed;

export interface ScanRunner {
  scan(
    target: ScanTarget,
    credentials: RegistryCredentials | null,
    options: ScanOptions,
  ): Promise<ScanOutcome>;
}

export interface DatabaseRefreshRequest {
  /** OCI repository of the vulnerability DB, e.g. `mirror.gcr.io/aquasec/trivy-db:2` or a mirror in our ACR. */
  readonly dbRepository: string;
  /** OCI repository of the Java DB; Trivy's default when unset. */
  readonly javaDbRepository?: string;
  /** Also download the Java DB (needed because scans run with --skip-java-db-update). Default true. */
  readonly includeJavaDb?: boolean;
  /** Overrides the runner's cache dir. */
  readonly cacheDir?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type DatabaseRefreshOutcome =
  | { readonly kind: "refreshed"; readonly db: TrivyVersionInfo | undefined; readonly durationMs: number }
  | {
      readonly kind: "failed";
      readonly reason: string;
      readonly exitCode: number | null;
      readonly signal: string | null;
      readonly diagnostics: string;
      readonly durationMs: number;
    };

/**
 * Downloads the vulnerability DB into the cache dir that scans read with --skip-db-update. Runs with
 * no registry credentials at all: Trivy would otherwise send them to the DB registry too.
 */
export interface DatabaseRefresher {
  refreshDatabase(request: DatabaseRefreshRequest): Promise<DatabaseRefreshOutcome>;
}
