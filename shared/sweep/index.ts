/** Reconciliation sweeps: what the registry holds against what the inventory knows. */
export { describeFromDetails, describeFromListing, ListingEnricher } from "./describe.js";
export type { ReconciliationPlan, RepositoryObservation, TagRemoval } from "./observe.js";
export { planReconciliation } from "./observe.js";
export type { RepositoryCounts, SweepProgress, SweepRun } from "./progress.js";
export {
  addCounts,
  EMPTY_COUNTS,
  InMemorySweepProgress,
  newSweepId,
  RepositoryCountsSchema,
  SweepIdSchema,
  TableSweepProgress,
} from "./progress.js";
export type {
  ReconcileDependencies,
  ReconcileOptions,
  ReconcileTarget,
  RepositoryReconciliation,
} from "./reconcileRepository.js";
export { reconcileRepository } from "./reconcileRepository.js";
export type {
  FailedRepository,
  RepositoryListingView,
  RunSweepOptions,
  SweepProgressReport,
  SweepResult,
} from "./runSweep.js";
export { runSweep } from "./runSweep.js";
export type { SweepStorage, SweepStorageOptions } from "./services.js";
export { openSweepStorage } from "./services.js";
export type { StartedSweep, StartSweepDependencies, StartSweepOptions } from "./startSweep.js";
export { chooseRun, startSweep } from "./startSweep.js";
export type { QueuedScan, Survey, SurveyDependencies, SurveyOptions } from "./survey.js";
export { surveyRegistry } from "./survey.js";
export type { TagRemovals } from "./tagRemovals.js";
export { TableTagRemovals } from "./tagRemovals.js";
