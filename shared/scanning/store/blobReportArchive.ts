import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import type { ContainerClient } from "@azure/storage-blob";
import { ValidationError } from "../../errors/index.js";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../../inventory/storageErrors.js";
import { isDigest } from "../../oci/reference.js";
import type { ArchivedReport, ScanReportArchive } from "../ports.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * The full Trivy reports, gzipped, in the `scan-reports` container: blob `<digest>/<scanId>.json.gz`,
 * where digest is the manifest the report is about (an index's platform child for multi-platform
 * images). The reports reach us already scrubbed of our credentials by the runner.
 */

export interface ReportArchiveReader {
  readReport(blobName: string): Promise<string>;
}

export class BlobReportArchive implements ScanReportArchive, ReportArchiveReader {
  readonly #container: ContainerClient;
  readonly #observer: StorageCallObserver | undefined;
  readonly #newScanId: () => string;

  constructor(
    container: ContainerClient,
    options: { onStorageCall?: StorageCallObserver; newScanId?: () => string } = {},
  ) {
    this.#container = container;
    this.#observer = options.onStorageCall;
    this.#newScanId = options.newScanId ?? randomUUID;
  }

  async ensureContainer(): Promise<void> {
    await this.#call(`create container ${this.#container.containerName}`, async () => {
      try {
        await this.#container.createIfNotExists();
      } catch (error) {
        if (storageStatus(error) !== 409) throw error;
      }
    });
  }

  /** Stores the report under a fresh scan id; use `putReportAs` to choose the id. */
  putReport(report: ArchivedReport): Promise<string> {
    return this.putReportAs(report, this.#newScanId());
  }

  async putReportAs(report: ArchivedReport, scanId: string): Promise<string> {
    if (!isDigest(report.digest)) throw new ValidationError(`'${report.digest}' is not a digest`);
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(scanId)) throw new ValidationError(`'${scanId}' is not a scan id`);
    const name = `${report.digest}/${scanId}.json.gz`;
    const body = await gzipAsync(Buffer.from(report.reportJson, "utf8"));
    await this.#call("archive scan report", () =>
      this.#container.getBlockBlobClient(name).uploadData(body, {
        blobHTTPHeaders: { blobContentType: "application/json", blobContentEncoding: "gzip" },
        metadata: {
          registry: report.registry,
          repository: encodeURIComponent(report.repository),
          scannedat: report.scannedAt,
          ...(report.platform === undefined ? {} : { platform: encodeURIComponent(report.platform) }),
        },
      }),
    );
    return name;
  }

  async readReport(blobName: string): Promise<string> {
    const bytes = await this.#call("read scan report", () =>
      this.#container.getBlockBlobClient(blobName).downloadToBuffer(),
    );
    return (await gunzipAsync(bytes)).toString("utf8");
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await observed(this.#observer, operation, call);
    } catch (error) {
      throw translateStorageError(error, operation);
    }
  }
}
