import type { ParseRegistryEventsResult } from "../events/parse.js";
import type { IngestReport } from "./ingestEvents.js";

/** The structured log line every entry point writes after a delivery (ids and counts, never payloads). */
export interface DeliverySummary {
  readonly accepted: number;
  readonly rejected: number;
  readonly skipped: number;
  readonly applied: number;
  readonly duplicates: number;
  readonly stale: number;
  readonly tombstoned: number;
  readonly scansQueued: number;
  readonly retentionQueued: number;
  readonly needsEnrichment: number;
  readonly ingestErrors: number;
}

export function summarizeDelivery(parsed: ParseRegistryEventsResult, report: IngestReport): DeliverySummary {
  return {
    accepted: parsed.events.length,
    rejected: parsed.rejected.length,
    skipped: parsed.skipped.length,
    applied: report.applied,
    duplicates: report.duplicates,
    stale: report.stale,
    tombstoned: report.tombstoned,
    scansQueued: report.scansQueued,
    retentionQueued: report.retentionQueued,
    needsEnrichment: report.needsEnrichment,
    ingestErrors: report.errors.length,
  };
}

/** One line per rejected or skipped event: where it was and why (the parser's messages hold no secrets). */
export function describeProblems(parsed: ParseRegistryEventsResult, report: IngestReport): string[] {
  return [
    ...parsed.rejected.map(
      (rejection) =>
        `rejected ${rejection.path}${rejection.eventId ? ` (${rejection.eventId})` : ""}: ${rejection.message}`,
    ),
    ...parsed.skipped.map(
      (skip) => `skipped ${skip.path}${skip.eventId ? ` (${skip.eventId})` : ""}: ${skip.reason}`,
    ),
    ...report.errors.map(
      (error) => `not applied event #${error.index} (${error.eventId ?? "no id"}): ${error.message}`,
    ),
  ];
}
