import type { RegistryCredentials } from "./scanRunner.js";

/**
 * Ports the scan worker needs around the scanning core. The core (scanImage) uses the first; the
 * worker's storage adapters implement the others (Azure Tables for results, Blob storage for the
 * gzipped reports, Event Grid for ScanCompleted). Kept here so that every adapter is written against
 * the same small contract.
 */

/** Mints registry credentials for one scan job, e.g. an ACR refresh token for the worker's identity. */
export interface ScanCredentialsProvider {
  /**
   * Credentials for pulling `repository` from `registry` (an allow-listed login server), or null to
   * scan anonymously. Throw AuthenticationError / AuthorizationError when minting is refused.
   */
  credentialsFor(registry: string, repository: string): Promise<RegistryCredentials | null>;
}

/** Where the raw Trivy JSON of a scan goes (the adapter gzips it); returns a name to find it again. */
export interface ScanReportArchive {
  putReport(report: ArchivedReport): Promise<string>;
}

export interface ArchivedReport {
  readonly registry: string;
  readonly repository: string;
  /** The manifest the report is about: the index digest's platform child for multi-platform images. */
  readonly digest: string;
  readonly platform?: string;
  readonly scannedAt: string;
  readonly reportJson: string;
}
