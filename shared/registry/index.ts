/** The registry access layer: the `Registry` port, its adapters, and the pieces callers configure. */
export { type AuditRecord, type AuditSink, InMemoryAuditSink, JsonLinesAuditSink } from "./audit.js";
export { type CopyImageRequest, type CopyProgress, type CopyResult, copyImage } from "./copyImage.js";
export { type RegistryCredentials, RegistryCredentialsSchema } from "./credentials.js";
export {
  formatReference,
  type ImageReference,
  manifestReference,
  parseImageReference,
  parseRepositoryName,
} from "./imageReference.js";
export { InMemoryRegistry } from "./inMemoryRegistry.js";
export { collectListing } from "./listing.js";
export {
  assertAllowed,
  type OpenRegistryOptions,
  openRegistry,
  parseAllowList,
  parseRegistryEndpoint,
  readCaCertificate,
} from "./openRegistry.js";
export type {
  Descriptor,
  ListOptions,
  Locks,
  ManifestDetails,
  ManifestListOptions,
  ManifestSummary,
  Platform,
  Registry,
  RegistryCapabilities,
  RegistryKind,
  TagInfo,
} from "./registry.js";
