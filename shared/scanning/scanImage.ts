import { ensureError } from "../errors/index.js";
import type { ScanCredentialsProvider } from "./ports.js";
import { redactSecrets } from "./redact.js";
import {
  isRetryableFailure,
  type RegistryCredentials,
  type ScanFailureKind,
  type ScanRunner,
  type ScanTarget,
} from "./scanRunner.js";
import {
  type AggregatedScanSummary,
  aggregateSummaries,
  type PlatformSummary,
  type ScanSummary,
  summarizeTrivyReport,
} from "./summarize.js";

/**
 * One scan job from start to summary: mint credentials, run the scanner per manifest (once for an
 * image, once per platform child for an index), validate and summarise. It stores nothing: the worker
 * records the result and archives the reports, then deletes the queue message.
 */

export interface PlatformChild {
  /** `os/arch[/variant]` from the index. */
  readonly platform: string;
  readonly digest: string;
}

export interface ScanImageRequest {
  readonly target: ScanTarget;
  /** Set when target.digest is an index: the children to scan (attestation manifests left out). */
  readonly children?: readonly PlatformChild[];
}

export interface ScanImageOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly worstLimit?: number;
}

export interface ScannedReport {
  readonly digest: string;
  readonly platform?: string;
  readonly reportJson: string;
}

export type ScanResult =
  | {
      readonly status: "completed";
      readonly target: ScanTarget;
      readonly scannedAt: string;
      /** A single image's summary, or for an index the aggregate with its per-platform breakdown. */
      readonly summary: ScanSummary | AggregatedScanSummary;
      readonly reports: readonly ScannedReport[];
    }
  | {
      /** The manifest is gone: record it as skipped, do not retry. */
      readonly status: "skipped";
      readonly target: ScanTarget;
      readonly scannedAt: string;
      readonly reason: string;
    }
  | {
      readonly status: "failed";
      readonly target: ScanTarget;
      readonly scannedAt: string;
      readonly failure: ScanFailureKind;
      readonly retryable: boolean;
      readonly reason: string;
      readonly diagnostics: string;
      /** For an index: the child that failed. */
      readonly platform?: string;
    };

export interface ScanImageDependencies {
  readonly runner: ScanRunner;
  readonly credentials: ScanCredentialsProvider;
  readonly now: () => Date;
}

export async function scanImage(
  deps: ScanImageDependencies,
  request: ScanImageRequest,
  options: ScanImageOptions,
): Promise<ScanResult> {
  const { target } = request;
  const scannedAt = () => deps.now().toISOString();

  let credentials: RegistryCredentials | null;
  try {
    credentials = await deps.credentials.credentialsFor(target.registry, target.repository);
  } catch (error) {
    return {
      status: "failed",
      target,
      scannedAt: scannedAt(),
      failure: "auth-failed",
      retryable: true,
      reason: `could not get registry credentials: ${redactSecrets(ensureError(error).message)}`,
      diagnostics: "",
    };
  }

  const manifests: readonly (PlatformChild | { platform?: undefined; digest: string })[] =
    request.children === undefined ? [{ digest: target.digest }] : request.children;
  if (manifests.length === 0) {
    return {
      status: "skipped",
      target,
      scannedAt: scannedAt(),
      reason: "the index has no platform images to scan",
    };
  }

  const summaries: PlatformSummary[] = [];
  const reports: ScannedReport[] = [];
  let single: ScanSummary | undefined;
  for (const manifest of manifests) {
    const outcome = await deps.runner.scan({ ...target, digest: manifest.digest }, credentials, {
      timeoutMs: options.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (outcome.kind === "failed") {
      if (outcome.failure === "image-gone") {
        return { status: "skipped", target, scannedAt: scannedAt(), reason: outcome.reason };
      }
      return {
        status: "failed",
        target,
        scannedAt: scannedAt(),
        failure: outcome.failure,
        retryable: isRetryableFailure(outcome.failure),
        reason: outcome.reason,
        diagnostics: outcome.diagnostics,
        ...(manifest.platform ? { platform: manifest.platform } : {}),
      };
    }
    const summary = summarizeTrivyReport(outcome.report, {
      scanner: outcome.scanner,
      ...(options.worstLimit === undefined ? {} : { worstLimit: options.worstLimit }),
    });
    reports.push({
      digest: manifest.digest,
      reportJson: outcome.reportJson,
      ...(manifest.platform ? { platform: manifest.platform } : {}),
    });
    if (manifest.platform === undefined) single = summary;
    else summaries.push({ platform: manifest.platform, summary });
  }

  const summary =
    single ??
    aggregateSummaries(summaries, options.worstLimit === undefined ? {} : { worstLimit: options.worstLimit });
  return { status: "completed", target, scannedAt: scannedAt(), summary, reports };
}
