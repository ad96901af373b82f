export { BlobReportArchive, type ReportArchiveReader } from "./blobReportArchive.js";
export { createReportContainerClient, openScanStorage, type ScanStorage } from "./clients.js";
export {
  type PlatformCounts,
  type ScanRecord,
  ScanRecordSchema,
  type ScanStatus,
  ScanStatusSchema,
  scanRecordOf,
} from "./scanRecord.js";
export {
  boundedJson,
  historyRowKey,
  LATEST_ROW,
  MAX_JSON_PROPERTY_CHARS,
  type ScanLeases,
  type ScanListOptions,
  type ScanStore,
  TableScanStore,
} from "./tableScanStore.js";
