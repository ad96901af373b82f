import { encodeDigestKey, encodeRepositoryKey } from "../inventory/keys.js";
import type { CoordinationMarks, MarkKey } from "./coordinationMarks.js";
import type { RetentionRequest, ScanRequest } from "./messages.js";
import type { WorkQueue } from "./workQueue.js";

/**
 * Follow-up work after the inventory changed: one scan request per digest that was not scanned
 * recently and is not already queued, and at most one pending retention request per repository
 * within the debounce window (sent with a visibility delay, so it runs after the window closes and
 * sees every event of the burst).
 */

/** When a digest was last scanned; until the scans table exists, a stand-in answers "never". */
export interface ScanStatusLookup {
  lastScannedAt(registry: string, repository: string, digest: string): Promise<string | undefined>;
}

export const NEVER_SCANNED: ScanStatusLookup = { lastScannedAt: async () => undefined };

export type ScanDecision = "queued" | "fresh" | "pending";
export type RetentionDecision = "queued" | "pending";

export interface ScanTarget {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
}

export interface RetentionTarget {
  readonly registry: string;
  readonly repository: string;
}

export interface FollowUp {
  /** @param claimId the event asking; its redelivery sends again instead of being deduplicated away. */
  requestScan(target: ScanTarget, claimId: string, now: Date): Promise<ScanDecision>;
  requestRetention(target: RetentionTarget, claimId: string, now: Date): Promise<RetentionDecision>;
}

export interface FollowUpSchedulerDependencies {
  readonly marks: CoordinationMarks;
  readonly scanStatus: ScanStatusLookup;
  readonly scanQueue: WorkQueue<ScanRequest>;
  readonly retentionQueue: WorkQueue<RetentionRequest>;
  readonly scanFreshnessMs: number;
  readonly retentionDebounceMs: number;
}

export function scanMarkKey(digest: string): MarkKey {
  return { partition: encodeDigestKey(digest), row: "scan-request" };
}

export function retentionMarkKey(registry: string, repository: string): MarkKey {
  return { partition: encodeRepositoryKey(registry, repository), row: "retention-request" };
}

export class FollowUpScheduler implements FollowUp {
  readonly #deps: FollowUpSchedulerDependencies;

  constructor(dependencies: FollowUpSchedulerDependencies) {
    this.#deps = dependencies;
  }

  async requestScan(target: ScanTarget, claimId: string, now: Date): Promise<ScanDecision> {
    const { marks, scanStatus, scanQueue, scanFreshnessMs } = this.#deps;
    const lastScan = await scanStatus.lastScannedAt(target.registry, target.repository, target.digest);
    const lastScanMs = lastScan === undefined ? undefined : Date.parse(lastScan);
    if (lastScanMs !== undefined && now.getTime() - lastScanMs < scanFreshnessMs) return "fresh";

    const key = scanMarkKey(target.digest);
    const existing = await marks.get(key);
    if (existing && existing.mark.claimedBy !== claimId) {
      const queuedMs = Date.parse(existing.mark.queuedAt);
      const queuedSinceLastScan = lastScanMs === undefined || queuedMs > lastScanMs;
      // A request lost on the way (poisoned, expired) is re-queued once the freshness window passed.
      if (queuedSinceLastScan && now.getTime() - queuedMs < scanFreshnessMs) return "pending";
    }
    if (!existing || existing.mark.claimedBy !== claimId) {
      const at = now.toISOString();
      const claimed = await marks.put(
        key,
        { claimedBy: claimId, queuedAt: at, dueAt: at },
        existing?.version,
      );
      if (!claimed) return "pending";
    }
    await scanQueue.send({
      version: 1,
      registry: target.registry,
      repository: target.repository,
      digest: target.digest,
      reason: "push",
      requestedAt: now.toISOString(),
    });
    return "queued";
  }

  async requestRetention(target: RetentionTarget, claimId: string, now: Date): Promise<RetentionDecision> {
    const { marks, retentionQueue, retentionDebounceMs } = this.#deps;
    const key = retentionMarkKey(target.registry, target.repository);
    const existing = await marks.get(key);
    const redelivery = existing?.mark.claimedBy === claimId;
    if (existing && !redelivery && Date.parse(existing.mark.dueAt) > now.getTime()) return "pending";

    const dueAt =
      redelivery && existing
        ? existing.mark.dueAt
        : new Date(now.getTime() + retentionDebounceMs).toISOString();
    if (!redelivery) {
      const mark = { claimedBy: claimId, queuedAt: now.toISOString(), dueAt };
      if (!(await marks.put(key, mark, existing?.version))) return "pending";
    }
    await retentionQueue.send(
      {
        version: 1,
        registry: target.registry,
        repository: target.repository,
        trigger: "event",
        requestedAt: now.toISOString(),
      },
      { visibilityDelayMs: Math.max(0, Date.parse(dueAt) - now.getTime()) },
    );
    return "queued";
  }
}
