import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { type StorageConnection, storageCredential } from "../../config/config.js";
import { BLOB_CONTAINERS, TABLE_NAMES } from "../../config/settings.js";
import { ConfigurationError } from "../../errors/index.js";
import { createTableClient } from "../../inventory/tableClients.js";
import { BlobReportArchive } from "./blobReportArchive.js";
import { TableScanStore } from "./tableScanStore.js";

/** The blob container of scan reports, from the validated storage connection. */
export function createReportContainerClient(
  storage: StorageConnection,
  containerName: string = BLOB_CONTAINERS.scanReports,
): ContainerClient {
  if (storage.kind === "connectionString") {
    return BlobServiceClient.fromConnectionString(storage.connectionString).getContainerClient(containerName);
  }
  if (storage.blobServiceUri === undefined) {
    throw new ConfigurationError(
      "ACR_STEWARD_STORAGE__blobServiceUri is missing: the scan worker stores its reports in blob storage",
    );
  }
  return new BlobServiceClient(storage.blobServiceUri, storageCredential(storage)).getContainerClient(
    containerName,
  );
}

export interface ScanStorage {
  readonly store: TableScanStore;
  readonly archive: BlobReportArchive;
}

/** The scans table and the report archive; `names` overrides the table and container (tests). */
export function openScanStorage(
  storage: StorageConnection,
  names: { table?: string; container?: string } = {},
): ScanStorage {
  return {
    store: new TableScanStore(createTableClient(storage, names.table ?? TABLE_NAMES.scans)),
    archive: new BlobReportArchive(createReportContainerClient(storage, names.container)),
  };
}
