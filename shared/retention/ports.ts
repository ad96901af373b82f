/**
 * The narrow ports the retention executor talks through. Adapters (registry client, Table
 * storage) implement them and translate SDK errors into shared/errors types.
 */

/**
 * Deletes in the registry. Implementations retry throttling (429, honouring Retry-After) and
 * transient failures themselves; an error that escapes means this item failed.
 */
export interface RetentionRegistry {
  /**
   * Deletes a manifest and, with it, every tag it carries. "not-found": already gone (counts as
   * done). "locked": the registry refused because of a lock. "changed": the manifest now carries
   * a tag outside `expectedTags` (someone tagged it after the plan was made), so it was left alone.
   */
  deleteManifest(
    registry: string,
    repository: string,
    digest: string,
    expectedTags: readonly string[],
  ): Promise<"deleted" | "not-found" | "locked" | "changed">;
  /**
   * Removes one tag. "changed": the tag now points at another manifest than `expectedDigest`
   * (it was moved after the plan was made), so it was left alone.
   */
  untag(
    registry: string,
    repository: string,
    tag: string,
    expectedDigest: string,
  ): Promise<"untagged" | "not-found" | "locked" | "changed">;
}

export type AuditOutcome =
  | "would-delete"
  | "would-untag"
  | "deleted"
  | "untagged"
  | "already-gone"
  | "locked"
  | "changed-since-plan"
  | "failed"
  | "refused"
  | "cap-reached"
  | "busy"
  | "skipped-dependency";

/** One row per action considered by the executor, dry runs included. */
export interface AuditRow {
  readonly id: string;
  /** ISO instant the action was attempted (or simulated). */
  readonly at: string;
  readonly runId: string;
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly tag?: string;
  readonly action: "delete" | "untag";
  readonly ruleId: string | null;
  readonly reason: string;
  /** Who asked: a person, "queue:retention-requests", "cli:<user>"... never a secret. */
  readonly actor: string;
  readonly dryRun: boolean;
  readonly outcome: AuditOutcome;
  readonly error?: string;
}

export interface AuditLog {
  append(row: AuditRow): Promise<void>;
}

export interface Lease {
  release(): Promise<void>;
}

/** At most one holder per repository; `acquire` resolves undefined when someone else holds it. */
export interface RepositoryLeases {
  acquire(registry: string, repository: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
