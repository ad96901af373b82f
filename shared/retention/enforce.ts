import { isTransient, NotFoundError, PartialListingError, ValidationError } from "../errors/index.js";
import { RepositoryNameSchema } from "../oci/reference.js";
import { mapConcurrent } from "../registry/listing.js";
import type { LoadCandidatesOptions } from "./adapters/loadCandidates.js";
import { loadRetentionCandidates } from "./adapters/loadCandidates.js";
import type { RegistryReader } from "./adapters/registryRetention.js";
import type { RepositoryListing } from "./candidates.js";
import type { ExecutionReport, RetentionPorts } from "./executor.js";
import { executeRetentionPlan } from "./executor.js";
import type { RetentionCaps, RetentionPlan } from "./plan.js";
import { planRetention } from "./planner.js";
import { compileRetentionPolicy, type RetentionPolicy } from "./policy.js";

/**
 * The retention use-cases behind every entry point (queue trigger, HTTP preview, CLI):
 * `planRegistryRetention` lists the registry through a read-only view and plans; `enforceRetention`
 * plans and hands the plan to the executor, which deletes only when the caller asks for it AND the
 * global switch allows it.
 */

export interface RetentionScope {
  /** Repositories to plan. Undefined: every repository of the registry that some rule applies to. */
  readonly repositories?: readonly string[];
}

export interface PlanRetentionDependencies {
  /** Read-only: planning cannot delete, whatever it is given. */
  readonly registry: RegistryReader;
  readonly policy: RetentionPolicy;
  readonly caps: RetentionCaps;
  readonly load?: LoadCandidatesOptions;
  /** Called before each repository is listed. */
  readonly onRepository?: (repository: string, index: number, count: number) => void;
  /** Repositories listed at once (the registry layer also limits requests per login server). Default 4. */
  readonly repositoryConcurrency?: number;
}

export interface RetentionPreview {
  readonly plan: RetentionPlan;
  /** What the plan was made from (tags of kept manifests, for displays). */
  readonly listings: readonly RepositoryListing[];
  /** Repositories that were asked for and do not exist (nothing was planned for them). */
  readonly missingRepositories: readonly string[];
  /** Repositories that were asked for but that no rule applies to: not even listed. */
  readonly outOfScopeRepositories: readonly string[];
  /**
   * Repositories whose listing could not even start (throttled or unavailable after retries):
   * nothing was planned or done there; the others were planned as usual.
   */
  readonly unavailableRepositories: readonly { readonly repository: string; readonly error: string }[];
}

/** Lists and plans. Pure reads: the registry view it receives has no method that changes anything. */
export async function planRegistryRetention(
  scope: RetentionScope,
  deps: PlanRetentionDependencies,
  now: Date,
): Promise<RetentionPreview> {
  const requested = await repositoriesInScope(scope, deps);
  // A repository no rule applies to would only get "no rule matched" decisions: do not read it.
  const compiled = compileRetentionPolicy(deps.policy);
  const inScope = (name: string) => compiled.rules.some((rule) => rule.appliesToRepository(name));
  const repositories = requested.filter(inScope);
  const outOfScopeRepositories = requested.filter((name) => !inScope(name));
  const missingRepositories: string[] = [];
  const unavailableRepositories: { repository: string; error: string }[] = [];
  let started = 0;
  const loaded = await mapConcurrent(repositories, deps.repositoryConcurrency ?? 4, async (repository) => {
    deps.onRepository?.(repository, started++, repositories.length);
    try {
      return await loadRetentionCandidates(deps.registry, repository, deps.load);
    } catch (error) {
      if (error instanceof NotFoundError) missingRepositories.push(repository);
      // One repository the registry would not list must not stop the others; it is reported.
      else if (isTransient(error))
        unavailableRepositories.push({ repository, error: (error as Error).message });
      else throw error;
      return undefined;
    }
  });
  const listings = loaded.filter((listing): listing is RepositoryListing => listing !== undefined);
  missingRepositories.sort();
  unavailableRepositories.sort((a, b) => (a.repository < b.repository ? -1 : 1));
  const plan = planRetention(listings, deps.policy, { now, caps: deps.caps });
  return { plan, listings, missingRepositories, outOfScopeRepositories, unavailableRepositories };
}

async function repositoriesInScope(
  scope: RetentionScope,
  deps: PlanRetentionDependencies,
): Promise<string[]> {
  if (scope.repositories !== undefined) {
    const names: string[] = [];
    for (const name of scope.repositories) {
      const parsed = RepositoryNameSchema.safeParse(name);
      if (!parsed.success) {
        throw new ValidationError(
          `'${name}' is not a repository name (lowercase path segments, OCI grammar)`,
        );
      }
      names.push(parsed.data);
    }
    return [...new Set(names)].sort();
  }
  const names: string[] = [];
  try {
    for await (const name of deps.registry.listRepositories()) names.push(name);
  } catch (error) {
    // Planning the repositories that were seen is safe (each has its own complete listing), but a
    // run that silently skips part of the registry is not what anyone asked for: say so.
    if (error instanceof PartialListingError) {
      throw new PartialListingError(`${error.message}; no retention was planned`, {
        listing: error.listing,
        itemsSeen: error.itemsSeen,
        cause: error,
      });
    }
    throw error;
  }
  return names.sort();
}

export interface EnforceRetentionRequest extends RetentionScope {
  /** The caller asks for real deletions (the global switch may still force a dry run). */
  readonly enforce: boolean;
  /** Who asks, for the audit rows: "queue:retention-requests", "cli:alice"... never a secret. */
  readonly actor: string;
  readonly runId?: string;
  readonly signal?: AbortSignal;
}

export interface EnforceRetentionDependencies extends PlanRetentionDependencies {
  /** Where the executor deletes, audits and takes leases. */
  readonly ports: RetentionPorts;
  /** ACR_STEWARD_RETENTION_ENFORCE: false forces a dry run whatever the request says. */
  readonly globalEnforce: boolean;
  readonly leaseTtlMs?: number;
  /**
   * Asked with the plan before anything is executed (the CLI's confirmation); false ends the run
   * with nothing executed and nothing audited. Without it the plan is executed at once.
   */
  readonly confirm?: (preview: RetentionPreview) => Promise<boolean>;
}

export type EnforceRetentionResult = RetentionPreview &
  (
    | { readonly status: "executed"; readonly report: ExecutionReport }
    | { readonly status: "declined"; readonly report?: undefined }
  );

/**
 * Plans and executes retention for a scope. Every action (or simulated action) leaves an audit row.
 *
 * @example
 *   const result = await enforceRetention(
 *     { repositories: ["team/web"], enforce: true, actor: "queue:retention-requests" },
 *     { registry: readOnlyRegistry(registry), policy, caps, ports, globalEnforce: config.retentionEnforce },
 *     new Date(),
 *   );
 */
export async function enforceRetention(
  request: EnforceRetentionRequest,
  deps: EnforceRetentionDependencies,
  now: Date,
): Promise<EnforceRetentionResult> {
  const preview = await planRegistryRetention(request, deps, now);
  if (deps.confirm && !(await deps.confirm(preview))) return { ...preview, status: "declined" };
  const report = await executeRetentionPlan(preview.plan, deps.ports, {
    enforce: request.enforce,
    globalEnforce: deps.globalEnforce,
    actor: request.actor,
    caps: deps.caps,
    ...(request.runId === undefined ? {} : { runId: request.runId }),
    ...(request.signal === undefined ? {} : { signal: request.signal }),
    ...(deps.leaseTtlMs === undefined ? {} : { leaseTtlMs: deps.leaseTtlMs }),
  });
  return { ...preview, status: "executed", report };
}
