import type { ManifestRecord } from "../inventory/ports.js";
import type { FollowUp, RetentionTarget, ScanDecision, ScanTarget } from "../queues/followUp.js";
import { readOnlyRegistry } from "../retention/adapters/registryRetention.js";
import { planRegistryRetention, type RetentionPreview } from "../retention/enforce.js";
import { type ExecutionReport, executeRetentionPlan, type RetentionPorts } from "../retention/executor.js";
import type { RetentionCaps, RetentionPlan } from "../retention/plan.js";
import type { RetentionPolicy } from "../retention/policy.js";
import type { ReconcileDependencies } from "./reconcileRepository.js";
import { type RunSweepOptions, runSweep, type SweepResult } from "./runSweep.js";

/**
 * The CLI's sweep: reconcile the whole registry (the same code the queue trigger runs), then show
 * what acr-steward now knows: the inventory, the scans that were queued, and the retention plan for
 * a policy. Retention is planned by the retention use-case on a read-only view of the registry, and
 * executed (guarded, audited) only when the caller enforces and confirms.
 */

export interface SurveyDependencies extends ReconcileDependencies {
  readonly retention: {
    readonly policy: RetentionPolicy;
    readonly caps: RetentionCaps;
    /** Where the executor acts; needed only when enforcing. */
    readonly ports?: RetentionPorts;
    /** ACR_STEWARD_RETENTION_ENFORCE: false forces a dry run whatever `enforce` says. */
    readonly globalEnforce: boolean;
  };
}

export interface SurveyOptions extends Omit<RunSweepOptions, "keepListings"> {
  readonly enforce?: boolean;
  /** Who acts (audit rows). */
  readonly actor: string;
  /** Asked before anything is deleted; false leaves the plan unexecuted. */
  readonly confirm?: (plan: RetentionPlan) => Promise<boolean>;
  readonly onRetentionRepository?: (repository: string, index: number, count: number) => void;
  /** Called when the sweep is done, before retention is planned. */
  readonly onSweepFinished?: () => void;
}

export interface QueuedScan extends ScanTarget {}

export interface Survey {
  readonly sweep: Omit<SweepResult, "listings">;
  /** Present manifests of the registry, as the inventory holds them after the sweep. */
  readonly inventory: readonly ManifestRecord[];
  /** Scan requests this sweep queued (digests never scanned, or scanned too long ago). */
  readonly scansQueued: readonly QueuedScan[];
  readonly retention: RetentionPreview;
  /** Present when the plan was handed to the executor (enforce, confirmed). */
  readonly execution?: ExecutionReport;
  readonly executionDeclined: boolean;
}

/** A FollowUp that remembers which scan requests were queued (the picture shows them). */
class RecordingFollowUp implements FollowUp {
  readonly queued: QueuedScan[] = [];
  readonly #inner: FollowUp;

  constructor(inner: FollowUp) {
    this.#inner = inner;
  }

  async requestScan(target: ScanTarget, claimId: string, now: Date): Promise<ScanDecision> {
    const decision = await this.#inner.requestScan(target, claimId, now);
    if (decision === "queued")
      this.queued.push({ registry: target.registry, repository: target.repository, digest: target.digest });
    return decision;
  }

  requestRetention(target: RetentionTarget, claimId: string, now: Date) {
    return this.#inner.requestRetention(target, claimId, now);
  }
}

export async function surveyRegistry(
  dependencies: SurveyDependencies,
  options: SurveyOptions,
): Promise<Survey> {
  const followUp = new RecordingFollowUp(dependencies.followUp);
  const { listings: _listings, ...sweep } = await runSweep({ ...dependencies, followUp }, options);
  options.onSweepFinished?.();

  const inventory: ManifestRecord[] = [];
  for await (const row of dependencies.inventory.listImages({ registry: dependencies.registry.loginServer }))
    inventory.push(row);

  const { policy, caps, ports, globalEnforce } = dependencies.retention;
  const retention = await planRegistryRetention(
    {},
    {
      registry: readOnlyRegistry(dependencies.registry),
      policy,
      caps,
      ...(options.onRetentionRepository === undefined ? {} : { onRepository: options.onRetentionRepository }),
    },
    dependencies.now(),
  );

  let execution: ExecutionReport | undefined;
  let executionDeclined = false;
  const actions = retention.plan.totals.delete + retention.plan.totals.untag;
  if (options.enforce && ports !== undefined && actions > 0) {
    const confirmed = options.confirm === undefined ? true : await options.confirm(retention.plan);
    if (confirmed) {
      execution = await executeRetentionPlan(retention.plan, ports, {
        enforce: true,
        globalEnforce,
        actor: options.actor,
        caps,
        runId: `sweep-${sweep.sweepId}`,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } else executionDeclined = true;
  }
  return {
    sweep,
    inventory: inventory.sort((a, b) =>
      a.repository === b.repository ? compare(a.digest, b.digest) : compare(a.repository, b.repository),
    ),
    scansQueued: followUp.queued.sort((a, b) =>
      a.repository === b.repository ? compare(a.digest, b.digest) : compare(a.repository, b.repository),
    ),
    retention,
    ...(execution === undefined ? {} : { execution }),
    executionDeclined,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
