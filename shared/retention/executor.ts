import { randomUUID } from "node:crypto";
import { ValidationError } from "../errors/index.js";
import type { RepositoryPlan, RetentionCaps, RetentionDecision, RetentionPlan } from "./plan.js";
import { RetentionCapsSchema, RetentionPlanSchema } from "./plan.js";
import type {
  AuditLog,
  AuditOutcome,
  AuditRow,
  Clock,
  Lease,
  RepositoryLeases,
  RetentionRegistry,
} from "./ports.js";

/**
 * The only code in acr-steward that deletes. It carries out a plan made by planRetention, and
 * trusts it as little as it can: the plan is parsed again, guarded decisions are refused, the caps
 * are counted again from the options (not from the plan), and nothing is called on the registry
 * unless both the caller and the global switch ask for enforcement.
 */

export interface RetentionPorts {
  readonly registry: RetentionRegistry;
  readonly audit: AuditLog;
  readonly leases: RepositoryLeases;
  readonly clock: Clock;
}

export interface ExecuteRetentionOptions {
  /** The caller asks for real deletions. Without it the run is a dry run. */
  readonly enforce?: boolean;
  /** ACR_STEWARD_RETENTION_ENFORCE: when false every run is a dry run, whatever the caller asked. */
  readonly globalEnforce: boolean;
  /** Who is acting, recorded in every audit row. */
  readonly actor: string;
  /** The caps this run may not exceed, whatever the plan says. */
  readonly caps: RetentionCaps;
  readonly signal?: AbortSignal;
  readonly runId?: string;
  /** How long a repository lease lasts; the executor stops acting before it runs out. Default 10 minutes. */
  readonly leaseTtlMs?: number;
}

export type ExecutionOutcome = AuditOutcome | "aborted";

export interface ExecutionItem {
  readonly digest: string;
  readonly tag?: string;
  readonly action: "delete" | "untag";
  readonly ruleId: string | null;
  readonly outcome: ExecutionOutcome;
  readonly error?: string;
}

export type RepositoryExecutionStatus =
  | "completed"
  | "busy"
  | "refused-partial-listing"
  | "aborted"
  | "audit-failed";

export interface RepositoryExecution {
  readonly registry: string;
  readonly repository: string;
  readonly status: RepositoryExecutionStatus;
  readonly items: ExecutionItem[];
}

export interface ExecutionReport {
  readonly runId: string;
  readonly dryRun: boolean;
  /** Why the run is a dry run (or that it enforced). */
  readonly mode: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** True when the run stopped early (abort signal, lease running out, or the audit log failing). */
  readonly stoppedEarly: boolean;
  readonly repositories: RepositoryExecution[];
  readonly totals: Record<ExecutionOutcome, number>;
}

const DEFAULT_LEASE_TTL_MS = 600_000;
/** Stop acting in a repository once this share of the lease has elapsed. */
const LEASE_SAFETY_FRACTION = 0.8;

const SUCCESSFUL: ReadonlySet<ExecutionOutcome> = new Set([
  "deleted",
  "untagged",
  "already-gone",
  "would-delete",
  "would-untag",
]);

class AuditFailure extends Error {}

function executionOrder(left: RetentionDecision, right: RetentionDecision): number {
  const activity = (decision: RetentionDecision) => decision.lastActivityAt ?? "";
  return (
    left.pass - right.pass ||
    (activity(left) < activity(right) ? -1 : activity(left) > activity(right) ? 1 : 0) ||
    (left.digest < right.digest ? -1 : left.digest > right.digest ? 1 : 0)
  );
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Executes a retention plan.
 *
 * @example
 *   const report = await executeRetentionPlan(plan, { registry, audit, leases, clock: systemClock }, {
 *     enforce: true, globalEnforce: settings.retentionEnforce, actor: "cli:alice", caps,
 *   });
 */
export async function executeRetentionPlan(
  plan: RetentionPlan,
  ports: RetentionPorts,
  options: ExecuteRetentionOptions,
): Promise<ExecutionReport> {
  const parsed = RetentionPlanSchema.safeParse(plan);
  if (!parsed.success) {
    throw new ValidationError(
      `The retention plan is malformed; nothing was executed: ${parsed.error.issues[0]?.message ?? "invalid"}`,
      {
        cause: parsed.error,
        context: { path: parsed.error.issues[0]?.path.join(".") },
      },
    );
  }
  const checkedPlan = parsed.data;
  const caps = RetentionCapsSchema.safeParse(options.caps);
  if (!caps.success) {
    throw new ValidationError(
      "The executor's caps must be whole numbers of 0 or more; nothing was executed",
      {
        cause: caps.error,
      },
    );
  }
  const dryRun = !(options.enforce === true && options.globalEnforce === true);
  const mode = !dryRun
    ? "enforce"
    : options.enforce === true
      ? "dry run: enforcement is switched off globally (ACR_STEWARD_RETENTION_ENFORCE)"
      : "dry run: enforcement was not requested";
  const runId = options.runId ?? randomUUID();
  const leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const startedAt = ports.clock.now().toISOString();
  let rowNumber = 0;
  let globalActions = 0;
  let stoppedEarly = false;
  let auditBroken = false;
  const repositories: RepositoryExecution[] = [];

  const writeAudit = async (repo: RepositoryPlan, decision: RetentionDecision, item: ExecutionItem) => {
    rowNumber += 1;
    const row: AuditRow = {
      id: `${runId}:${String(rowNumber).padStart(6, "0")}`,
      at: ports.clock.now().toISOString(),
      runId,
      registry: repo.registry,
      repository: repo.repository,
      digest: item.digest,
      ...(item.tag === undefined ? {} : { tag: item.tag }),
      action: item.action,
      ruleId: decision.ruleId,
      reason: decision.reason,
      actor: options.actor,
      dryRun,
      outcome: item.outcome as AuditOutcome,
      ...(item.error === undefined ? {} : { error: item.error }),
    };
    try {
      await ports.audit.append(row);
    } catch (error) {
      // Acting without a record is worse than not acting: stop the whole run.
      auditBroken = true;
      throw new AuditFailure(errorText(error));
    }
  };

  const itemsFor = (
    decision: RetentionDecision,
    outcome: ExecutionOutcome,
    error?: string,
  ): ExecutionItem[] =>
    decision.action === "delete"
      ? [
          {
            digest: decision.digest,
            action: "delete",
            ruleId: decision.ruleId,
            outcome,
            ...(error ? { error } : {}),
          },
        ]
      : decision.tags.map((tag) => ({
          digest: decision.digest,
          tag,
          action: "untag" as const,
          ruleId: decision.ruleId,
          outcome,
          ...(error ? { error } : {}),
        }));

  const sortedRepositories = [...checkedPlan.repositories].sort((left, right) =>
    left.registry === right.registry
      ? left.repository < right.repository
        ? -1
        : 1
      : left.registry < right.registry
        ? -1
        : 1,
  );

  for (const repo of sortedRepositories) {
    const actions = repo.decisions.filter((decision) => decision.action !== "keep").sort(executionOrder);
    if (actions.length === 0) continue;
    const items: ExecutionItem[] = [];
    const record = (execution: Omit<RepositoryExecution, "items">) =>
      repositories.push({ ...execution, items });

    if (auditBroken || options.signal?.aborted) {
      stoppedEarly = true;
      for (const decision of actions) items.push(...itemsFor(decision, "aborted"));
      record({ registry: repo.registry, repository: repo.repository, status: "aborted" });
      continue;
    }
    try {
      if (!repo.listingComplete) {
        for (const decision of actions) {
          for (const item of itemsFor(decision, "refused", "the plan was made from a partial listing")) {
            items.push(item);
            await writeAudit(repo, decision, item);
          }
        }
        record({ registry: repo.registry, repository: repo.repository, status: "refused-partial-listing" });
        continue;
      }
      let lease: Lease | undefined;
      let leaseAcquiredMs = 0;
      if (!dryRun) {
        let leaseProblem = "another worker holds this repository";
        try {
          lease = await ports.leases.acquire(repo.registry, repo.repository, runId, leaseTtlMs);
        } catch (error) {
          leaseProblem = `the repository lease could not be taken: ${errorText(error)}`;
        }
        if (!lease) {
          for (const decision of actions) {
            for (const item of itemsFor(decision, "busy", leaseProblem)) {
              items.push(item);
              await writeAudit(repo, decision, item);
            }
          }
          record({ registry: repo.registry, repository: repo.repository, status: "busy" });
          continue;
        }
        leaseAcquiredMs = ports.clock.now().getTime();
      }
      let status: RepositoryExecutionStatus = "completed";
      try {
        let repositoryActions = 0;
        let earliestIncompletePass = Number.POSITIVE_INFINITY;
        for (const [position, decision] of actions.entries()) {
          const leaseRunningOut =
            lease !== undefined &&
            ports.clock.now().getTime() - leaseAcquiredMs > leaseTtlMs * LEASE_SAFETY_FRACTION;
          if (options.signal?.aborted || leaseRunningOut) {
            stoppedEarly = true;
            status = "aborted";
            for (const rest of actions.slice(position)) items.push(...itemsFor(rest, "aborted"));
            break;
          }
          let results: ExecutionItem[];
          if (decision.guard !== null) {
            results = itemsFor(decision, "refused", `guard ${decision.guard} is set on this decision`);
          } else if (decision.pass > earliestIncompletePass) {
            results = itemsFor(
              decision,
              "skipped-dependency",
              "an earlier action in this repository did not complete",
            );
          } else if (
            repositoryActions >= options.caps.perRepository ||
            globalActions >= options.caps.global
          ) {
            results = itemsFor(decision, "cap-reached");
          } else {
            repositoryActions += 1;
            globalActions += 1;
            results = dryRun
              ? itemsFor(decision, decision.action === "delete" ? "would-delete" : "would-untag")
              : await perform(ports.registry, repo, decision);
          }
          for (const item of results) {
            items.push(item);
            await writeAudit(repo, decision, item);
          }
          if (results.some((item) => !SUCCESSFUL.has(item.outcome))) {
            earliestIncompletePass = Math.min(earliestIncompletePass, decision.pass);
          }
        }
      } finally {
        if (lease) await lease.release().catch(() => undefined);
      }
      record({ registry: repo.registry, repository: repo.repository, status });
    } catch (error) {
      if (!(error instanceof AuditFailure)) throw error;
      stoppedEarly = true;
      record({ registry: repo.registry, repository: repo.repository, status: "audit-failed" });
    }
  }

  const totals = Object.fromEntries(
    (
      [
        "would-delete",
        "would-untag",
        "deleted",
        "untagged",
        "already-gone",
        "locked",
        "changed-since-plan",
        "failed",
        "refused",
        "cap-reached",
        "busy",
        "skipped-dependency",
        "aborted",
      ] as const
    ).map((outcome) => [outcome, 0]),
  ) as Record<ExecutionOutcome, number>;
  for (const repo of repositories) for (const item of repo.items) totals[item.outcome] += 1;
  return {
    runId,
    dryRun,
    mode,
    startedAt,
    finishedAt: ports.clock.now().toISOString(),
    stoppedEarly,
    repositories,
    totals,
  };
}

const OUTCOMES = {
  deleted: "deleted",
  untagged: "untagged",
  "not-found": "already-gone",
  locked: "locked",
  changed: "changed-since-plan",
} as const satisfies Record<string, ExecutionOutcome>;

async function perform(
  registry: RetentionRegistry,
  repo: RepositoryPlan,
  decision: RetentionDecision,
): Promise<ExecutionItem[]> {
  if (decision.action === "delete") {
    const base = { digest: decision.digest, action: "delete" as const, ruleId: decision.ruleId };
    try {
      const result = await registry.deleteManifest(
        repo.registry,
        repo.repository,
        decision.digest,
        decision.tags,
      );
      return [{ ...base, outcome: OUTCOMES[result] }];
    } catch (error) {
      return [{ ...base, outcome: "failed", error: errorText(error) }];
    }
  }
  const items: ExecutionItem[] = [];
  for (const tag of decision.tags) {
    const base = { digest: decision.digest, tag, action: "untag" as const, ruleId: decision.ruleId };
    try {
      const result = await registry.untag(repo.registry, repo.repository, tag, decision.digest);
      items.push({ ...base, outcome: OUTCOMES[result] });
    } catch (error) {
      items.push({ ...base, outcome: "failed", error: errorText(error) });
    }
  }
  return items;
}
