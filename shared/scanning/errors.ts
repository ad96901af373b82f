import { ValidationError } from "../errors/index.js";

/** One problem found in a document that claims to be a Trivy JSON report. */
export interface ReportIssue {
  /** Where, as a JSON path like `Results[0].Vulnerabilities[3].VulnerabilityID` (`$` for the root). */
  readonly path: string;
  readonly message: string;
}

/**
 * The document is not a Trivy JSON report we can read (not JSON, wrong SchemaVersion, findings
 * without ids...). Never retried as such: the runner turns it into a `malformed-output` outcome.
 */
export class TrivyReportError extends ValidationError {
  readonly issues: readonly ReportIssue[];
  constructor(issues: readonly ReportIssue[], options: { cause?: unknown } = {}) {
    const shown = issues
      .slice(0, 5)
      .map((issue) => `${issue.path}: ${issue.message}`)
      .join("; ");
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : "";
    super(`not a Trivy JSON report: ${shown}${more}`, {
      ...options,
      context: { issues: issues.slice(0, 20) },
    });
    this.issues = issues;
  }
}
