import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema } from "../../oci/reference.js";
import type { ScanResult } from "../scanImage.js";
import { ScanFailureKindSchema } from "../scanRunner.js";
import { emptySeverityCounts, SeverityCountsSchema, SeveritySchema } from "../severity.js";
import {
  type AggregatedScanSummary,
  OperatingSystemSchema,
  ScannerInfoSchema,
  type ScanSummary,
  WorstFindingSchema,
} from "../summarize.js";

/**
 * What we keep about one scan of one digest: the counts people and deployment gates act on, the few
 * worst findings, what made the report, and where the full report is. One record is the "latest" row
 * of its digest and one is a history row. It is built from a `ScanResult` only, which never holds
 * registry credentials, so nothing secret can reach a stored row.
 */

export const ScanStatusSchema = z.enum(["completed", "skipped", "failed"]);
export type ScanStatus = z.infer<typeof ScanStatusSchema>;

export const PlatformCountsSchema = z.object({
  platform: z.string(),
  digest: z.string().optional(),
  findings: SeverityCountsSchema,
  unique: SeverityCountsSchema,
  fixable: z.number().int().nonnegative(),
  endOfLife: z.boolean(),
});
export type PlatformCounts = z.infer<typeof PlatformCountsSchema>;

export const ScanRecordSchema = z.object({
  scanId: z.string().min(1),
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  digest: DigestSchema,
  status: ScanStatusSchema,
  scannedAt: z.iso.datetime({ offset: true }),
  /** Why a scan was skipped or failed (scrubbed by the scanning core). */
  reason: z.string().optional(),
  failure: ScanFailureKindSchema.optional(),
  findings: SeverityCountsSchema,
  findingsTotal: z.number().int().nonnegative(),
  unique: SeverityCountsSchema,
  uniqueTotal: z.number().int().nonnegative(),
  fixable: z.number().int().nonnegative(),
  unfixable: z.number().int().nonnegative(),
  highest: SeveritySchema.nullable(),
  secrets: z.number().int().nonnegative(),
  misconfigurations: z.number().int().nonnegative(),
  os: OperatingSystemSchema.nullable(),
  endOfLife: z.boolean(),
  scanner: ScannerInfoSchema,
  /** The worst findings (at most the summary's limit; fewer if they would not fit in a table property). */
  worst: z.array(WorstFindingSchema),
  /** For an index: the counts of each platform child. Empty for an image. */
  platforms: z.array(PlatformCountsSchema),
  /** Blob names of the gzipped reports (one per image, one per platform child of an index). */
  reportBlobs: z.array(z.string()),
});
export type ScanRecord = z.infer<typeof ScanRecordSchema>;

function isAggregated(summary: ScanSummary | AggregatedScanSummary): summary is AggregatedScanSummary {
  return "platforms" in summary;
}

/** The record of a scan result. `reportBlobs` are the names the archive returned. */
export function scanRecordOf(
  result: ScanResult,
  scanId: string,
  reportBlobs: readonly string[] = [],
): ScanRecord {
  const base = {
    scanId,
    registry: result.target.registry,
    repository: result.target.repository,
    digest: result.target.digest,
    scannedAt: result.scannedAt,
    reportBlobs: [...reportBlobs],
  };
  if (result.status !== "completed") {
    return {
      ...base,
      ...emptyCounts(),
      status: result.status,
      reason: result.reason,
      ...(result.status === "failed" ? { failure: result.failure } : {}),
    };
  }
  const summary = result.summary;
  const vulnerabilities = summary.vulnerabilities;
  const aggregated = isAggregated(summary);
  return {
    ...base,
    status: "completed",
    findings: vulnerabilities.findings,
    findingsTotal: vulnerabilities.findingsTotal,
    unique: vulnerabilities.unique,
    uniqueTotal: vulnerabilities.uniqueTotal,
    fixable: vulnerabilities.fixable,
    unfixable: vulnerabilities.unfixable,
    highest: vulnerabilities.highest,
    secrets: summary.secrets.total,
    misconfigurations: summary.misconfigurations.failures,
    os: summary.os,
    endOfLife: aggregated ? summary.endOfLife : (summary.os?.endOfLife ?? false),
    scanner: summary.scanner,
    worst: summary.worst,
    platforms: aggregated
      ? summary.platforms.map((child) => ({
          platform: child.platform,
          ...(child.summary.artifact.digest ? { digest: child.summary.artifact.digest } : {}),
          findings: child.summary.vulnerabilities.findings,
          unique: child.summary.vulnerabilities.unique,
          fixable: child.summary.vulnerabilities.fixable,
          endOfLife: child.summary.os?.endOfLife ?? false,
        }))
      : [],
  };
}

function emptyCounts() {
  return {
    findings: emptySeverityCounts(),
    findingsTotal: 0,
    unique: emptySeverityCounts(),
    uniqueTotal: 0,
    fixable: 0,
    unfixable: 0,
    highest: null,
    secrets: 0,
    misconfigurations: 0,
    os: null,
    endOfLife: false,
    scanner: {},
    worst: [],
    platforms: [],
  };
}
