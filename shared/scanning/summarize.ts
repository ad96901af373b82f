import { z } from "zod";
import { ValidationError } from "../errors/index.js";
import {
  addSeverityCounts,
  compareSeverity,
  emptySeverityCounts,
  highestSeverity,
  moreSevere,
  normalizeSeverity,
  SEVERITIES,
  type Severity,
  SeverityCountsSchema,
  SeveritySchema,
  totalOf,
} from "./severity.js";
import type { TrivyReport, TrivyVersionInfo, TrivyVulnerability } from "./trivyReport.js";

/**
 * What we keep about one scan besides the raw report: counts a person or a deployment gate can act
 * on, the few worst findings, and what made the report (Trivy and DB versions). Pure functions of
 * the report, so the same report always gives the same summary.
 */

export const DEFAULT_WORST_LIMIT = 10;
const MAX_TITLE_LENGTH = 200;

export const WorstFindingSchema = z.object({
  vulnerabilityId: z.string(),
  severity: SeveritySchema,
  /** Highest CVSS v3 score any source gives (v4.0, then v2, when no source has v3). */
  cvssScore: z.number().optional(),
  pkgName: z.string().optional(),
  installedVersion: z.string().optional(),
  fixedVersion: z.string().optional(),
  status: z.string().optional(),
  target: z.string().optional(),
  title: z.string().optional(),
  primaryUrl: z.string().optional(),
  /** In an aggregated index summary: the platforms where this finding was seen. */
  platforms: z.array(z.string()).optional(),
});
export type WorstFinding = z.infer<typeof WorstFindingSchema>;

const IdsBySeveritySchema = z.object({
  CRITICAL: z.array(z.string()),
  HIGH: z.array(z.string()),
  MEDIUM: z.array(z.string()),
  LOW: z.array(z.string()),
  UNKNOWN: z.array(z.string()),
});
export type IdsBySeverity = z.infer<typeof IdsBySeveritySchema>;

export const VulnerabilityCountsSchema = z.object({
  /** Every entry of Results[].Vulnerabilities (one per vulnerability x package x target), as Trivy's table counts. */
  findings: SeverityCountsSchema,
  findingsTotal: z.number().int().nonnegative(),
  /** Distinct VulnerabilityIDs, each at the highest severity any of its findings has. */
  unique: SeverityCountsSchema,
  uniqueTotal: z.number().int().nonnegative(),
  /** The distinct ids behind `unique`, sorted; kept so that index children can be merged exactly. */
  idsBySeverity: IdsBySeveritySchema,
  /** Findings with a FixedVersion (an upgrade exists), and those without. */
  fixable: z.number().int().nonnegative(),
  unfixable: z.number().int().nonnegative(),
  /** Distinct ids with a FixedVersion in at least one of their findings. */
  uniqueFixable: z.number().int().nonnegative(),
  /** The ids behind `uniqueFixable`, sorted (for exact merging of index children). */
  fixableIds: z.array(z.string()),
  /** Findings per Trivy status (`fixed`, `affected`, `will_not_fix`...); findings without one are not counted here. */
  statuses: z.record(z.string(), z.number().int().nonnegative()),
  highest: SeveritySchema.nullable(),
});
export type VulnerabilityCounts = z.infer<typeof VulnerabilityCountsSchema>;

export const SecretCountsSchema = z.object({
  bySeverity: SeverityCountsSchema,
  total: z.number().int().nonnegative(),
});
export type SecretCounts = z.infer<typeof SecretCountsSchema>;

export const MisconfigurationCountsSchema = z.object({
  /** Only Status FAIL counts; PASS and EXCEPTION are not findings. */
  failuresBySeverity: SeverityCountsSchema,
  failures: z.number().int().nonnegative(),
});
export type MisconfigurationCounts = z.infer<typeof MisconfigurationCountsSchema>;

export const OperatingSystemSchema = z.object({
  family: z.string(),
  name: z.string().optional(),
  /** Trivy's EOSL flag: the distribution release no longer gets security fixes. */
  endOfLife: z.boolean(),
});
export type OperatingSystem = z.infer<typeof OperatingSystemSchema>;

export const ScannerInfoSchema = z.object({
  trivyVersion: z.string().optional(),
  dbVersion: z.number().optional(),
  dbUpdatedAt: z.string().optional(),
  dbNextUpdate: z.string().optional(),
  dbDownloadedAt: z.string().optional(),
});
export type ScannerInfo = z.infer<typeof ScannerInfoSchema>;

export const ArtifactInfoSchema = z.object({
  /** ArtifactName: the target exactly as Trivy was given it. */
  name: z.string().optional(),
  type: z.string().optional(),
  /** Manifest digest scanned, from the `@sha256:` of ArtifactName or else the first RepoDigest. */
  digest: z.string().optional(),
  /** Image config digest (Metadata.ImageID). */
  imageId: z.string().optional(),
  repoDigests: z.array(z.string()),
});
export type ArtifactInfo = z.infer<typeof ArtifactInfoSchema>;

export const ScanSummarySchema = z.object({
  /** Trivy's report schema version (always 2: we refuse anything else). */
  schemaVersion: z.literal(2),
  reportId: z.string().optional(),
  createdAt: z.string().optional(),
  artifact: ArtifactInfoSchema,
  os: OperatingSystemSchema.nullable(),
  scanner: ScannerInfoSchema,
  /** How many Results entries (targets) the report has. */
  results: z.number().int().nonnegative(),
  vulnerabilities: VulnerabilityCountsSchema,
  worst: z.array(WorstFindingSchema),
  secrets: SecretCountsSchema,
  misconfigurations: MisconfigurationCountsSchema,
});
export type ScanSummary = z.infer<typeof ScanSummarySchema>;

export interface SummarizeOptions {
  /** `trivy version --format json` taken next to the scan: the DB version is only there. */
  readonly scanner?: TrivyVersionInfo | undefined;
  /** How many worst findings to keep (default 10). */
  readonly worstLimit?: number;
}

export function summarizeTrivyReport(report: TrivyReport, options: SummarizeOptions = {}): ScanSummary {
  const worstLimit = checkedWorstLimit(options.worstLimit);
  const results = report.Results ?? [];

  const findings = emptySeverityCounts();
  const severityById = new Map<string, Severity>();
  const fixableIds = new Set<string>();
  const statuses: Record<string, number> = {};
  const candidates: WorstFinding[] = [];
  let fixable = 0;
  const secrets = emptySeverityCounts();
  const misconfigFailures = emptySeverityCounts();

  for (const result of results) {
    for (const vulnerability of result.Vulnerabilities ?? []) {
      const severity = normalizeSeverity(vulnerability.Severity);
      findings[severity] += 1;
      const id = vulnerability.VulnerabilityID;
      const previous = severityById.get(id);
      severityById.set(id, previous === undefined ? severity : moreSevere(previous, severity));
      if (hasFix(vulnerability)) {
        fixable += 1;
        fixableIds.add(id);
      }
      if (vulnerability.Status) statuses[vulnerability.Status] = (statuses[vulnerability.Status] ?? 0) + 1;
      candidates.push(toWorstFinding(vulnerability, severity, result.Target ?? undefined));
    }
    for (const secret of result.Secrets ?? []) secrets[normalizeSeverity(secret.Severity)] += 1;
    for (const misconfiguration of result.Misconfigurations ?? []) {
      if (misconfiguration.Status === "FAIL")
        misconfigFailures[normalizeSeverity(misconfiguration.Severity)] += 1;
    }
  }

  const findingsTotal = totalOf(findings);
  const { unique, idsBySeverity } = countUnique(severityById);
  return {
    schemaVersion: 2,
    ...(report.ReportID ? { reportId: report.ReportID } : {}),
    ...(report.CreatedAt ? { createdAt: report.CreatedAt } : {}),
    artifact: artifactOf(report),
    os: osOf(report),
    scanner: scannerOf(report, options.scanner),
    results: results.length,
    vulnerabilities: {
      findings,
      findingsTotal,
      unique,
      uniqueTotal: severityById.size,
      idsBySeverity,
      fixable,
      unfixable: findingsTotal - fixable,
      uniqueFixable: fixableIds.size,
      fixableIds: [...fixableIds].sort(byCodeUnits),
      statuses: sortedRecord(statuses),
      highest: highestSeverity(findings),
    },
    worst: pickWorst(candidates, worstLimit),
    secrets: { bySeverity: secrets, total: totalOf(secrets) },
    misconfigurations: { failuresBySeverity: misconfigFailures, failures: totalOf(misconfigFailures) },
  };
}

/** A fix exists when Trivy names the version that has it; a comma list (language packages) counts too. */
function hasFix(vulnerability: TrivyVulnerability): boolean {
  return typeof vulnerability.FixedVersion === "string" && vulnerability.FixedVersion.trim() !== "";
}

function countUnique(severityById: ReadonlyMap<string, Severity>): {
  unique: ReturnType<typeof emptySeverityCounts>;
  idsBySeverity: IdsBySeverity;
} {
  const unique = emptySeverityCounts();
  const idsBySeverity: IdsBySeverity = { CRITICAL: [], HIGH: [], MEDIUM: [], LOW: [], UNKNOWN: [] };
  for (const [id, severity] of severityById) {
    unique[severity] += 1;
    idsBySeverity[severity].push(id);
  }
  for (const severity of SEVERITIES) idsBySeverity[severity].sort(byCodeUnits);
  return { unique, idsBySeverity };
}

function toWorstFinding(
  vulnerability: TrivyVulnerability,
  severity: Severity,
  target: string | undefined,
): WorstFinding {
  const cvssScore = cvssScoreOf(vulnerability);
  const title = vulnerability.Title ?? undefined;
  return dropUndefined({
    vulnerabilityId: vulnerability.VulnerabilityID,
    severity,
    cvssScore,
    pkgName: vulnerability.PkgName ?? undefined,
    installedVersion: vulnerability.InstalledVersion ?? undefined,
    fixedVersion: hasFix(vulnerability) ? (vulnerability.FixedVersion ?? undefined) : undefined,
    status: vulnerability.Status ?? undefined,
    target,
    title:
      title !== undefined && title.length > MAX_TITLE_LENGTH
        ? `${title.slice(0, MAX_TITLE_LENGTH - 1)}…`
        : title,
    primaryUrl: vulnerability.PrimaryURL ?? undefined,
  });
}

export function cvssScoreOf(vulnerability: TrivyVulnerability): number | undefined {
  const sources = Object.values(vulnerability.CVSS ?? {});
  for (const pick of [
    (c: (typeof sources)[number]) => c.V3Score,
    (c: (typeof sources)[number]) => c.V40Score,
    (c: (typeof sources)[number]) => c.V2Score,
  ]) {
    const scores = sources.map(pick).filter((score): score is number => typeof score === "number");
    if (scores.length > 0) return Math.max(...scores);
  }
  return undefined;
}

/**
 * Worst first: severity, then CVSS score (none counts lowest), then id, package, installed version and
 * target in code-unit order, so ties never depend on the order Trivy happened to print. The same
 * vulnerability in the same package version is listed once (its first place wins).
 */
export function compareWorst(a: WorstFinding, b: WorstFinding): number {
  return (
    compareSeverity(b.severity, a.severity) ||
    (b.cvssScore ?? -1) - (a.cvssScore ?? -1) ||
    byCodeUnits(a.vulnerabilityId, b.vulnerabilityId) ||
    byCodeUnits(a.pkgName ?? "", b.pkgName ?? "") ||
    byCodeUnits(a.installedVersion ?? "", b.installedVersion ?? "") ||
    byCodeUnits(a.target ?? "", b.target ?? "")
  );
}

function worstKey(finding: WorstFinding): string {
  return JSON.stringify([finding.vulnerabilityId, finding.pkgName ?? "", finding.installedVersion ?? ""]);
}

function pickWorst(candidates: WorstFinding[], limit: number): WorstFinding[] {
  const sorted = [...candidates].sort(compareWorst);
  const seen = new Set<string>();
  const picked: WorstFinding[] = [];
  for (const finding of sorted) {
    if (picked.length >= limit) break;
    const key = worstKey(finding);
    if (seen.has(key)) continue;
    seen.add(key);
    picked.push(finding);
  }
  return picked;
}

function artifactOf(report: TrivyReport): ArtifactInfo {
  const repoDigests = report.Metadata?.RepoDigests ?? [];
  const fromName = digestAfterAt(report.ArtifactName ?? undefined);
  const fromRepoDigests = repoDigests.map(digestAfterAt).find((digest) => digest !== undefined);
  return dropUndefined({
    name: report.ArtifactName ?? undefined,
    type: report.ArtifactType ?? undefined,
    digest: fromName ?? fromRepoDigests,
    imageId: report.Metadata?.ImageID ?? undefined,
    repoDigests: [...repoDigests],
  });
}

function digestAfterAt(reference: string | undefined): string | undefined {
  const at = reference?.lastIndexOf("@") ?? -1;
  if (reference === undefined || at < 0) return undefined;
  const digest = reference.slice(at + 1);
  return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest) ? digest : undefined;
}

function osOf(report: TrivyReport): OperatingSystem | null {
  const os = report.Metadata?.OS;
  if (!os) return null;
  return dropUndefined({
    family: os.Family ?? "unknown",
    name: os.Name ?? undefined,
    endOfLife: os.EOSL === true,
  });
}

function scannerOf(report: TrivyReport, versionInfo: TrivyVersionInfo | undefined): ScannerInfo {
  const db = versionInfo?.VulnerabilityDB;
  return dropUndefined({
    trivyVersion: report.Trivy?.Version ?? versionInfo?.Version ?? undefined,
    dbVersion: db?.Version ?? undefined,
    dbUpdatedAt: db?.UpdatedAt ?? undefined,
    dbNextUpdate: db?.NextUpdate ?? undefined,
    dbDownloadedAt: db?.DownloadedAt ?? undefined,
  });
}

// ---------------------------------------------------------------------------------------------
// Indexes: one scan per platform child, merged.

export const PlatformSummarySchema = z.object({
  /** e.g. `linux/amd64`, `linux/arm64/v8`. */
  platform: z.string().min(1),
  summary: ScanSummarySchema,
});
export type PlatformSummary = z.infer<typeof PlatformSummarySchema>;

export const AggregatedScanSummarySchema = z.object({
  /** The children as scanned, in the order given: the per-platform breakdown. */
  platforms: z.array(PlatformSummarySchema).min(1),
  /** The first child's OS, with `endOfLife` true when any child's OS is end of life. */
  os: OperatingSystemSchema.nullable(),
  /** True when any child's OS is end of life (also true when only a later child is). */
  endOfLife: z.boolean(),
  scanner: ScannerInfoSchema,
  results: z.number().int().nonnegative(),
  vulnerabilities: VulnerabilityCountsSchema,
  worst: z.array(WorstFindingSchema),
  secrets: SecretCountsSchema,
  misconfigurations: MisconfigurationCountsSchema,
});
export type AggregatedScanSummary = z.infer<typeof AggregatedScanSummarySchema>;

/**
 * Merges the summaries of an index's platform children. Per-finding counts (findings, fixable,
 * statuses, secrets, misconfiguration failures, results) are summed: each child is a separate image
 * that would be deployed on its own. Unique ids are merged across children, each at the highest
 * severity any child gives it, so a CVE present on every platform counts once. `uniqueFixable`
 * counts ids fixable on at least one platform. The worst list is re-ranked over all children and a
 * finding seen on several platforms is listed once with all of them.
 */
export function aggregateSummaries(
  children: readonly PlatformSummary[],
  options: { worstLimit?: number } = {},
): AggregatedScanSummary {
  if (children.length === 0) {
    throw new ValidationError("an index summary needs at least one scanned platform child");
  }
  const platforms = new Set<string>();
  for (const child of children) {
    if (platforms.has(child.platform)) {
      throw new ValidationError(`platform '${child.platform}' appears twice among the index's children`, {
        context: { platform: child.platform },
      });
    }
    platforms.add(child.platform);
  }
  const worstLimit = checkedWorstLimit(options.worstLimit);

  let findings = emptySeverityCounts();
  let secrets = emptySeverityCounts();
  let misconfigFailures = emptySeverityCounts();
  const severityById = new Map<string, Severity>();
  const fixableIds = new Set<string>();
  const statuses: Record<string, number> = {};
  let fixable = 0;
  let results = 0;
  let endOfLife = false;
  const worstByKey = new Map<string, WorstFinding>();

  for (const { platform, summary } of children) {
    const counts = summary.vulnerabilities;
    findings = addSeverityCounts(findings, counts.findings);
    secrets = addSeverityCounts(secrets, summary.secrets.bySeverity);
    misconfigFailures = addSeverityCounts(misconfigFailures, summary.misconfigurations.failuresBySeverity);
    fixable += counts.fixable;
    results += summary.results;
    endOfLife ||= summary.os?.endOfLife === true;
    for (const [status, count] of Object.entries(counts.statuses))
      statuses[status] = (statuses[status] ?? 0) + count;
    for (const severity of SEVERITIES) {
      for (const id of counts.idsBySeverity[severity]) {
        const previous = severityById.get(id);
        severityById.set(id, previous === undefined ? severity : moreSevere(previous, severity));
      }
    }
    for (const id of counts.fixableIds) fixableIds.add(id);
    for (const finding of summary.worst) {
      const key = worstKey(finding);
      const seen = worstByKey.get(key);
      const childPlatforms = finding.platforms ?? [platform];
      if (seen === undefined || compareWorst(finding, seen) < 0) {
        worstByKey.set(key, { ...finding, platforms: mergePlatforms(seen?.platforms, childPlatforms) });
      } else {
        seen.platforms = mergePlatforms(seen.platforms, childPlatforms);
      }
    }
  }
  const findingsTotal = totalOf(findings);
  const { unique, idsBySeverity } = countUnique(severityById);
  const first = children[0]?.summary;
  const firstOs = children.map((child) => child.summary.os).find((os) => os !== null) ?? null;
  return {
    platforms: children.map((child) => ({ platform: child.platform, summary: child.summary })),
    os: firstOs === null ? null : { ...firstOs, endOfLife },
    endOfLife,
    scanner: first?.scanner ?? {},
    results,
    vulnerabilities: {
      findings,
      findingsTotal,
      unique,
      uniqueTotal: severityById.size,
      idsBySeverity,
      fixable,
      unfixable: findingsTotal - fixable,
      uniqueFixable: fixableIds.size,
      fixableIds: [...fixableIds].sort(byCodeUnits),
      statuses: sortedRecord(statuses),
      highest: highestSeverity(findings),
    },
    worst: [...worstByKey.values()].sort(compareWorst).slice(0, worstLimit),
    secrets: { bySeverity: secrets, total: totalOf(secrets) },
    misconfigurations: { failuresBySeverity: misconfigFailures, failures: totalOf(misconfigFailures) },
  };
}

function mergePlatforms(a: readonly string[] | undefined, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])];
}

// ---------------------------------------------------------------------------------------------

function checkedWorstLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_WORST_LIMIT;
  if (!Number.isInteger(value) || value < 0) {
    throw new ValidationError(`worstLimit must be a non-negative integer (got ${String(limit)})`);
  }
  return value;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedRecord(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => byCodeUnits(a, b)));
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
