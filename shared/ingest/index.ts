export type { IngestDependencies, IngestEventError, IngestReport } from "./ingestEvents.js";
export { ingestEvents } from "./ingestEvents.js";
