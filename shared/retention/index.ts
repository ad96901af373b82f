export type { RepositoryListing, RetentionCandidate, RetentionTag } from "./candidates.js";
export { RepositoryListingSchema, RetentionCandidateSchema, RetentionTagSchema } from "./candidates.js";
export { checkDuration, durationToMilliseconds, formatDuration, MAX_DURATION_MS } from "./duration.js";
export type {
  ExecuteRetentionOptions,
  ExecutionItem,
  ExecutionOutcome,
  ExecutionReport,
  RepositoryExecution,
  RepositoryExecutionStatus,
  RetentionPorts,
} from "./executor.js";
export { executeRetentionPlan } from "./executor.js";
export { generatePolicyJsonSchema, POLICY_JSON_SCHEMA_PATH, renderPolicyJsonSchema } from "./jsonSchema.js";
export type {
  RepositoryPlan,
  RetentionAction,
  RetentionCaps,
  RetentionDecision,
  RetentionGuard,
  RetentionPlan,
  RetentionTotals,
} from "./plan.js";
export { RETENTION_GUARDS, RetentionCapsSchema, RetentionPlanSchema } from "./plan.js";
export type { PlanRetentionOptions } from "./planner.js";
export { planRetention } from "./planner.js";
export type {
  CompiledPolicy,
  CompiledRule,
  PolicyProblem,
  RetentionPolicy,
  RetentionRule,
} from "./policy.js";
export {
  compileRetentionPolicy,
  parseRetentionPolicy,
  RetentionPolicySchema,
  validateRetentionPolicy,
} from "./policy.js";
export type {
  AuditLog,
  AuditOutcome,
  AuditRow,
  Clock,
  Lease,
  RepositoryLeases,
  RetentionRegistry,
} from "./ports.js";
export { systemClock } from "./ports.js";
