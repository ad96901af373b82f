/** Adapters that connect the retention ports to the registry layer and to Azure Tables. */
export { type LoadCandidatesOptions, loadRetentionCandidates } from "./loadCandidates.js";
export { type RegistryReader, RegistryRetentionActions, readOnlyRegistry } from "./registryRetention.js";
export { RETENTION_AUDIT_CATEGORY, retentionAuditKey, TableRetentionAuditLog } from "./tableAuditLog.js";
export { LEASE_PARTITION, TableRepositoryLeases } from "./tableLeases.js";
