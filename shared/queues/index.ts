export { decodeQueueMessage, encodeQueueMessage } from "./codec.js";
export type { CoordinationMark, CoordinationMarks, MarkKey, VersionedMark } from "./coordinationMarks.js";
export { TableCoordinationMarks } from "./coordinationMarks.js";
export type {
  FollowUp,
  FollowUpSchedulerDependencies,
  RetentionDecision,
  RetentionTarget,
  ScanDecision,
  ScanStatusLookup,
  ScanTarget,
} from "./followUp.js";
export { FollowUpScheduler, NEVER_SCANNED, retentionMarkKey, scanMarkKey } from "./followUp.js";
export * from "./messages.js";
export { createQueueClient } from "./queueClients.js";
export type { WorkQueue } from "./workQueue.js";
export { StorageWorkQueue } from "./workQueue.js";
