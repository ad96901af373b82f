import { z } from "zod";
import { type ReportIssue, TrivyReportError } from "./errors.js";

/**
 * Trivy's JSON report (SchemaVersion 2), read leniently: Trivy adds fields release after release
 * (`Trivy`, `ReportID`, `ArtifactID`, `Fingerprint`, `Layers`...) and leaves out empty ones (Go
 * `omitempty`), and older releases wrote `null` for empty lists. So almost everything is optional,
 * `null` counts as absent and unknown fields pass through untouched. What we do insist on is what
 * makes a document a Trivy report at all: an object, `SchemaVersion: 2`, `Results` a list of
 * objects, and every finding carrying its identifier. Anything else is a TrivyReportError naming
 * the path, never a silently empty summary.
 */

/** Optional in the Go sense: absent, or written as null by older Trivy releases. */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish();

const text = z.string();

const CvssSchema = z.looseObject({
  V2Vector: optional(text),
  V3Vector: optional(text),
  V40Vector: optional(text),
  V2Score: optional(z.number()),
  V3Score: optional(z.number()),
  V40Score: optional(z.number()),
});

export const TrivyVulnerabilitySchema = z.looseObject({
  VulnerabilityID: z
    .string({ error: "every vulnerability has a VulnerabilityID (a string)" })
    .min(1, "VulnerabilityID is empty"),
  VendorIDs: optional(z.array(text)),
  PkgID: optional(text),
  PkgName: optional(text),
  PkgPath: optional(text),
  InstalledVersion: optional(text),
  FixedVersion: optional(text),
  Status: optional(text),
  /** Kept as a plain string: an unknown level is counted as UNKNOWN, not rejected. */
  Severity: optional(text),
  SeveritySource: optional(text),
  Title: optional(text),
  PrimaryURL: optional(text),
  CVSS: optional(z.record(z.string(), CvssSchema)),
  PublishedDate: optional(text),
  LastModifiedDate: optional(text),
  Fingerprint: optional(text),
});

export const TrivySecretSchema = z.looseObject({
  RuleID: z.string({ error: "every secret finding has a RuleID (a string)" }),
  Category: optional(text),
  Severity: optional(text),
  Title: optional(text),
  StartLine: optional(z.number()),
  EndLine: optional(z.number()),
});

export const TrivyMisconfigurationSchema = z.looseObject({
  ID: optional(text),
  AVDID: optional(text),
  Type: optional(text),
  Title: optional(text),
  Severity: optional(text),
  /** PASS, FAIL or EXCEPTION; only FAIL is a finding. */
  Status: optional(text),
});

export const TrivyResultSchema = z.looseObject(
  {
    Target: optional(text),
    Class: optional(text),
    Type: optional(text),
    Packages: optional(z.array(z.unknown())),
    Vulnerabilities: optional(z.array(TrivyVulnerabilitySchema, { error: "Vulnerabilities must be a list" })),
    Secrets: optional(z.array(TrivySecretSchema, { error: "Secrets must be a list" })),
    Misconfigurations: optional(
      z.array(TrivyMisconfigurationSchema, { error: "Misconfigurations must be a list" }),
    ),
    MisconfSummary: optional(
      z.looseObject({ Successes: optional(z.number()), Failures: optional(z.number()) }),
    ),
  },
  { error: "every entry of Results is an object" },
);

export const TrivyOsSchema = z.looseObject({
  /** Always written by Trivy ("none" when no OS was detected); tolerated when missing. */
  Family: optional(text),
  Name: optional(text),
  /** End of service life: Trivy sets it only when true. */
  EOSL: optional(z.boolean()),
});

export const TrivyMetadataSchema = z.looseObject({
  Size: optional(z.number()),
  OS: optional(TrivyOsSchema),
  ImageID: optional(text),
  DiffIDs: optional(z.array(text)),
  RepoTags: optional(z.array(text)),
  RepoDigests: optional(z.array(text)),
  Reference: optional(text),
  ImageConfig: optional(z.unknown()),
});

export const TrivyReportSchema = z.looseObject(
  {
    SchemaVersion: z.literal(2, {
      error: (issue) =>
        issue.input === undefined
          ? "SchemaVersion is missing (Trivy JSON reports carry SchemaVersion 2)"
          : `SchemaVersion must be 2, the only Trivy JSON schema we read (got ${JSON.stringify(issue.input)})`,
    }),
    Trivy: optional(z.looseObject({ Version: optional(text) })),
    ReportID: optional(text),
    CreatedAt: optional(text),
    ArtifactID: optional(text),
    ArtifactName: optional(text),
    ArtifactType: optional(text),
    Metadata: optional(TrivyMetadataSchema),
    Results: optional(z.array(TrivyResultSchema, { error: "Results must be a list" })),
  },
  { error: "a Trivy report is a JSON object" },
);

export type TrivyReport = z.infer<typeof TrivyReportSchema>;
export type TrivyResult = z.infer<typeof TrivyResultSchema>;
export type TrivyVulnerability = z.infer<typeof TrivyVulnerabilitySchema>;
export type TrivySecret = z.infer<typeof TrivySecretSchema>;
export type TrivyMisconfiguration = z.infer<typeof TrivyMisconfigurationSchema>;

/**
 * `trivy version --format json`: the scanner and vulnerability DB a report was made with. Reports
 * themselves carry at most `Trivy.Version`, so the runner asks for this next to every scan.
 */
const DbMetadataSchema = z.looseObject({
  Version: optional(z.number()),
  UpdatedAt: optional(text),
  NextUpdate: optional(text),
  DownloadedAt: optional(text),
});

export const TrivyVersionInfoSchema = z.looseObject(
  {
    Version: optional(text),
    VulnerabilityDB: optional(DbMetadataSchema),
    JavaDB: optional(DbMetadataSchema),
  },
  { error: "trivy version output is a JSON object" },
);
export type TrivyVersionInfo = z.infer<typeof TrivyVersionInfoSchema>;

export function formatIssuePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "$";
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function issuesOf(error: z.ZodError): ReportIssue[] {
  return error.issues.map((issue) => ({ path: formatIssuePath(issue.path), message: issue.message }));
}

/** Validates an already-decoded document. Throws TrivyReportError naming every problem and its path. */
export function parseTrivyReport(document: unknown): TrivyReport {
  const parsed = TrivyReportSchema.safeParse(document);
  if (!parsed.success) throw new TrivyReportError(issuesOf(parsed.error), { cause: parsed.error });
  return parsed.data;
}

/** Decodes and validates report text (what Trivy wrote to `--output`). */
export function parseTrivyReportJson(json: string): TrivyReport {
  if (json.trim() === "") throw new TrivyReportError([{ path: "$", message: "the report is empty" }]);
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TrivyReportError([{ path: "$", message: `not valid JSON (${reason})` }], { cause: error });
  }
  return parseTrivyReport(document);
}

export function parseTrivyVersionInfoJson(json: string): TrivyVersionInfo {
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TrivyReportError([{ path: "$", message: `trivy version output is not JSON (${reason})` }], {
      cause: error,
    });
  }
  const parsed = TrivyVersionInfoSchema.safeParse(document);
  if (!parsed.success) throw new TrivyReportError(issuesOf(parsed.error), { cause: parsed.error });
  return parsed.data;
}
