import { ensureError } from "../errors/index.js";
import type { ManifestDescription } from "../inventory/model.js";
import type { ManifestSummary } from "../registry/registry.js";
import { addCounts, EMPTY_COUNTS, type RepositoryCounts } from "./progress.js";
import {
  type ReconcileDependencies,
  type ReconcileOptions,
  type RepositoryReconciliation,
  reconcileRepository,
} from "./reconcileRepository.js";
import { chooseRun } from "./startSweep.js";

/**
 * A whole sweep in one process (the CLI, benchmarks): the catalog, then every repository through
 * the same `reconcileRepository` the queue trigger runs, with bounded concurrency. A repository that
 * fails is reported and the others go on; the run is marked finished only when none failed, so a
 * killed or failed run is resumed by the next one.
 */

export interface SweepProgressReport {
  readonly repositoriesDone: number;
  readonly repositoriesTotal: number;
  readonly manifests: number;
  readonly elapsedMs: number;
}

export interface RunSweepOptions extends Pick<ReconcileOptions, "pageSize" | "signal" | "scanSlices"> {
  /** Repositories reconciled at once. Default 4. */
  readonly concurrency?: number;
  /** Keep listings for the caller (retention planning, the picture of the registry). */
  readonly keepListings?: boolean;
  readonly fresh?: boolean;
  readonly resumeWithinMs?: number;
  readonly onProgress?: (report: SweepProgressReport) => void;
  /** Called with each repository's listing as it finishes (when `keepListings`). */
  readonly onRepository?: (reconciliation: RepositoryReconciliation) => void;
}

export interface FailedRepository {
  readonly repository: string;
  readonly error: string;
}

export interface SweepResult {
  readonly sweepId: string;
  readonly registry: string;
  readonly resumed: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly repositories: number;
  /** Finished by an earlier attempt of this run (not redone). */
  readonly alreadyDone: number;
  readonly failed: readonly FailedRepository[];
  readonly counts: RepositoryCounts;
  readonly newerThanObservation: number;
  /** Listings of repositories reconciled in this process (when `keepListings`), by repository. */
  readonly listings: ReadonlyMap<string, RepositoryListingView>;
}

export interface RepositoryListingView {
  readonly manifests: readonly ManifestSummary[];
  readonly descriptions: ReadonlyMap<string, ManifestDescription>;
}

export async function runSweep(
  dependencies: ReconcileDependencies,
  options: RunSweepOptions = {},
): Promise<SweepResult> {
  const { registry, progress } = dependencies;
  const started = dependencies.now();
  const loginServer = registry.loginServer;
  const run = await chooseRun(progress, loginServer, started, options);

  const repositories: string[] = [];
  for await (const repository of registry.listRepositories(
    options.signal === undefined ? {} : { signal: options.signal },
  ))
    repositories.push(repository);
  await progress.saveRun({
    sweepId: run.sweepId,
    registry: loginServer,
    startedAt: run.startedAt,
    repositories: repositories.length,
  });

  let counts = EMPTY_COUNTS;
  let done = 0;
  let alreadyDone = 0;
  let newerThanObservation = 0;
  let listedSoFar = 0;
  const inFlight = new Map<string, number>();
  const failed: FailedRepository[] = [];
  const listings = new Map<string, RepositoryListingView>();
  const report = () =>
    options.onProgress?.({
      repositoriesDone: done,
      repositoriesTotal: repositories.length,
      manifests: listedSoFar + [...inFlight.values()].reduce((sum, count) => sum + count, 0),
      elapsedMs: dependencies.now().getTime() - started.getTime(),
    });

  let next = 0;
  const workers = Array.from(
    { length: Math.max(1, Math.min(options.concurrency ?? 4, repositories.length)) },
    async () => {
      while (next < repositories.length) {
        const repository = repositories[next++] as string;
        if (options.signal?.aborted) return;
        inFlight.set(repository, 0);
        try {
          const result = await reconcileRepository(
            { sweepId: run.sweepId, registry: loginServer, repository },
            dependencies,
            {
              keepListing: options.keepListings === true,
              onManifests: (count) => {
                inFlight.set(repository, count);
                report();
              },
              ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
              ...(options.scanSlices === undefined ? {} : { scanSlices: options.scanSlices }),
              ...(options.signal === undefined ? {} : { signal: options.signal }),
            },
          );
          counts = addCounts(counts, result.counts);
          newerThanObservation += result.newerThanObservation;
          if (result.alreadyDone) alreadyDone += 1;
          else listedSoFar += result.counts.manifests;
          if (result.listing !== undefined && result.descriptions !== undefined)
            listings.set(repository, { manifests: result.listing, descriptions: result.descriptions });
          options.onRepository?.(result);
        } catch (error) {
          failed.push({ repository, error: ensureError(error).message });
        } finally {
          inFlight.delete(repository);
          done += 1;
          report();
        }
      }
    },
  );
  await Promise.all(workers);

  const finishedAt = dependencies.now().toISOString();
  const complete = failed.length === 0 && done === repositories.length;
  if (complete) {
    await progress.saveRun({
      sweepId: run.sweepId,
      registry: loginServer,
      startedAt: run.startedAt,
      finishedAt,
      repositories: repositories.length,
    });
  }
  return {
    sweepId: run.sweepId,
    registry: loginServer,
    resumed: run.resumed,
    startedAt: run.startedAt,
    finishedAt,
    repositories: repositories.length,
    alreadyDone,
    failed: failed.sort((a, b) => (a.repository < b.repository ? -1 : 1)),
    counts,
    newerThanObservation,
    listings,
  };
}
