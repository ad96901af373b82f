export type { IngestDependencies, IngestEventError, IngestReport } from "./ingestEvents.js";
export { ingestEvents } from "./ingestEvents.js";
export type { DeliverySummary } from "./summary.js";
export { describeProblems, summarizeDelivery } from "./summary.js";
