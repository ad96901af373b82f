/**
 * Composition of the app's adapters from validated configuration, shared by the Azure Functions
 * (functions/composition.ts caches one per cold start) and the CLI (one per command run).
 */
export {
  buildIngestRuntime,
  ENRICHMENT_RETRY_POLICY,
  type IngestRuntime,
  type IngestRuntimeParts,
  RECORD_FROM_EVENT_ONLY,
} from "./ingestRuntime.js";
export {
  configuredRegistryOpener,
  type RegistryAccessOverrides,
  type RegistryOpener,
  RegistryPool,
  registryCredentialsFor,
} from "./registries.js";
export { RegistryManifestEnricher } from "./registryEnricher.js";
export {
  buildRetentionRuntime,
  type RetentionRuntime,
  type RetentionRuntimeParts,
} from "./retentionRuntime.js";
export { buildSweepRuntime, type SweepRuntime, type SweepRuntimeParts } from "./sweepRuntime.js";
