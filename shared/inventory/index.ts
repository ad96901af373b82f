export {
  auditDayKey,
  decodeEventIdKey,
  decodeRepositoryKey,
  encodeDigestKey,
  encodeEventIdKey,
  encodeRepositoryKey,
  encodeTagKey,
} from "./keys.js";
export type {
  ArtifactKind,
  ManifestDescription,
  ManifestState,
  MergeOutcome,
  Stamp,
  TagState,
} from "./model.js";
export {
  compareStamps,
  eventTimeOrder,
  isPresent,
  lastChange,
  mergeManifestEvent,
  mergeTagEvent,
  stampOf,
  tagExists,
} from "./model.js";
export type {
  ApplyAllResult,
  ApplyResult,
  InventoryStore,
  ListImagesOptions,
  ListTagsOptions,
  ManifestEnricher,
  ManifestRecord,
  RejectedApply,
  TagRecord,
} from "./ports.js";
export type { StorageCallObserver } from "./storageErrors.js";
export { storageStatus, translateStorageError } from "./storageErrors.js";
export { createTableClient } from "./tableClients.js";
export type { TableInventoryStoreOptions, TableInventoryTables } from "./tableInventoryStore.js";
export { TableInventoryStore } from "./tableInventoryStore.js";
