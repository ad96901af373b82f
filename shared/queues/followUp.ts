import { encodeDigestKey, encodeRepositoryKey } from "../inventory/keys.js";
import type { CoordinationMark, CoordinationMarks, MarkKey, VersionedMark } from "./coordinationMarks.js";
import type { RetentionRequest, ScanReason, ScanRequest } from "./messages.js";
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
  /** Who asks for a first scan: an event (`push`, the default) or a sweep. A stale digest is a `rescan`. */
  readonly reason?: Extract<ScanReason, "push" | "sweep">;
}

export interface RetentionTarget {
  readonly registry: string;
  readonly repository: string;
  /** What asks for retention: an event (the default) or a sweep. */
  readonly trigger?: RetentionRequest["trigger"];
}

export interface FollowUp {
  /** @param claimId the event asking (recorded in the mark, for diagnosis). */
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

const REMEMBERED_MARKS = 10_000;

export function scanMarkKey(digest: string): MarkKey {
  return { partition: encodeDigestKey(digest), row: "scan-request" };
}

export function retentionMarkKey(registry: string, repository: string): MarkKey {
  return { partition: encodeRepositoryKey(registry, repository), row: "retention-request" };
}

export class FollowUpScheduler implements FollowUp {
  readonly #deps: FollowUpSchedulerDependencies;
  /**
   * Marks this process read or wrote. A mark is replaced only once its window has passed, so a
   * remembered mark whose window is still open answers "pending" without a storage call.
   */
  readonly #knownMarks = new Map<string, CoordinationMark>();
  /** Requests for the same mark in this process run one after the other (no double send from within). */
  readonly #inFlight = new Map<string, Promise<unknown>>();

  constructor(dependencies: FollowUpSchedulerDependencies) {
    this.#deps = dependencies;
  }

  async requestScan(target: ScanTarget, claimId: string, now: Date): Promise<ScanDecision> {
    const { scanStatus, scanQueue, scanFreshnessMs } = this.#deps;
    const key = scanMarkKey(target.digest);
    return this.#oneAtATime(key, async () => {
      const lastScan = await scanStatus.lastScannedAt(target.registry, target.repository, target.digest);
      const lastScanMs = lastScan === undefined ? undefined : Date.parse(lastScan);
      if (lastScanMs !== undefined && now.getTime() - lastScanMs < scanFreshnessMs) return "fresh";

      const stillQueued = (mark: CoordinationMark) => {
        const queuedMs = Date.parse(mark.queuedAt);
        // A request lost on the way (poisoned, expired) is queued again once the freshness window passed.
        return (
          (lastScanMs === undefined || queuedMs > lastScanMs) && now.getTime() - queuedMs < scanFreshnessMs
        );
      };
      const known = this.#known(key);
      if (known && stillQueued(known)) return "pending";
      const existing = await this.#read(key);
      if (existing && stillQueued(existing.mark)) return "pending";

      const at = now.toISOString();
      await scanQueue.send({
        version: 1,
        registry: target.registry,
        repository: target.repository,
        digest: target.digest,
        reason: lastScanMs === undefined ? (target.reason ?? "push") : "rescan",
        requestedAt: at,
      });
      await this.#mark(key, { claimedBy: claimId, queuedAt: at, dueAt: at }, existing?.version);
      return "queued";
    });
  }

  async requestRetention(target: RetentionTarget, claimId: string, now: Date): Promise<RetentionDecision> {
    const { retentionQueue, retentionDebounceMs } = this.#deps;
    const key = retentionMarkKey(target.registry, target.repository);
    return this.#oneAtATime(key, async () => {
      const pending = (mark: CoordinationMark) => Date.parse(mark.dueAt) > now.getTime();
      const known = this.#known(key);
      if (known && pending(known)) return "pending";
      const existing = await this.#read(key);
      if (existing && pending(existing.mark)) return "pending";

      await retentionQueue.send(
        {
          version: 1,
          registry: target.registry,
          repository: target.repository,
          trigger: target.trigger ?? "event",
          requestedAt: now.toISOString(),
        },
        { visibilityDelayMs: retentionDebounceMs },
      );
      const dueAt = new Date(now.getTime() + retentionDebounceMs).toISOString();
      await this.#mark(key, { claimedBy: claimId, queuedAt: now.toISOString(), dueAt }, existing?.version);
      return "queued";
    });
  }

  /**
   * Sent first, marked second: a failure in between can only cause a second request later (work
   * that is safe to repeat), never a lost one. Losing the mark race means another instance sent at
   * the same moment; its mark stands.
   */
  async #mark(key: MarkKey, mark: CoordinationMark, version: string | undefined): Promise<void> {
    if ((await this.#deps.marks.put(key, mark, version)) !== undefined) this.#remember(key, mark);
  }

  async #read(key: MarkKey): Promise<VersionedMark | undefined> {
    const existing = await this.#deps.marks.get(key);
    if (existing) this.#remember(key, existing.mark);
    return existing;
  }

  async #oneAtATime<T>(key: MarkKey, work: () => Promise<T>): Promise<T> {
    const id = `${key.partition}|${key.row}`;
    const previous = this.#inFlight.get(id) ?? Promise.resolve();
    const current = previous.then(work, work);
    const settled = current.catch(() => undefined);
    this.#inFlight.set(id, settled);
    try {
      return await current;
    } finally {
      if (this.#inFlight.get(id) === settled) this.#inFlight.delete(id);
    }
  }

  #known(key: MarkKey): CoordinationMark | undefined {
    return this.#knownMarks.get(`${key.partition}|${key.row}`);
  }

  #remember(key: MarkKey, mark: CoordinationMark): void {
    const id = `${key.partition}|${key.row}`;
    this.#knownMarks.delete(id);
    this.#knownMarks.set(id, mark);
    if (this.#knownMarks.size > REMEMBERED_MARKS) {
      const oldest = this.#knownMarks.keys().next().value;
      if (oldest !== undefined) this.#knownMarks.delete(oldest);
    }
  }
}
