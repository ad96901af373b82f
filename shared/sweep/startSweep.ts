import type { ReconcileRequest } from "../queues/messages.js";
import type { WorkQueue } from "../queues/workQueue.js";
import type { Registry } from "../registry/registry.js";
import { newSweepId, type SweepProgress } from "./progress.js";

/**
 * The timer's half of a sweep: lists the registry's catalog to its end and sends one
 * `reconcile-requests` message per repository the run has not finished yet. A run that has not
 * finished within `resumeWithinMs` is resumed (same id, finished repositories skipped) instead of
 * starting over; a catalog listing that fails is thrown before anything is sent for the rest, so
 * the next timer run resumes.
 */

export interface StartSweepDependencies {
  readonly registry: Registry;
  readonly progress: SweepProgress;
  readonly reconcileQueue: WorkQueue<ReconcileRequest>;
  readonly now: () => Date;
}

export interface StartSweepOptions {
  /** A run younger than this whose repositories are not all done is resumed. Default 20 hours. */
  readonly resumeWithinMs?: number;
  /** Start a new run even if one is unfinished. */
  readonly fresh?: boolean;
  readonly signal?: AbortSignal;
}

export interface StartedSweep {
  readonly sweepId: string;
  readonly registry: string;
  readonly resumed: boolean;
  readonly repositories: number;
  readonly alreadyDone: number;
  readonly requested: number;
}

const DEFAULT_RESUME_WINDOW_MS = 20 * 3600_000;

export async function startSweep(
  dependencies: StartSweepDependencies,
  options: StartSweepOptions = {},
): Promise<StartedSweep> {
  const { registry, progress, reconcileQueue } = dependencies;
  const now = dependencies.now();
  const loginServer = registry.loginServer;
  const run = await chooseRun(progress, loginServer, now, options);

  const repositories: string[] = [];
  for await (const repository of registry.listRepositories(
    options.signal === undefined ? {} : { signal: options.signal },
  ))
    repositories.push(repository);

  const done = run.resumed ? await progress.listCompleted(run.sweepId, loginServer) : new Map();
  await progress.saveRun({
    sweepId: run.sweepId,
    registry: loginServer,
    startedAt: run.startedAt,
    repositories: repositories.length,
  });
  let requested = 0;
  for (const repository of repositories) {
    if (done.has(repository)) continue;
    await reconcileQueue.send({
      version: 1,
      sweepId: run.sweepId,
      registry: loginServer,
      repository,
      requestedAt: now.toISOString(),
    });
    requested += 1;
  }
  return {
    sweepId: run.sweepId,
    registry: loginServer,
    resumed: run.resumed,
    repositories: repositories.length,
    alreadyDone: repositories.length - requested,
    requested,
  };
}

/** The run to work on: the registry's unfinished recent run, or a new one. */
export async function chooseRun(
  progress: SweepProgress,
  registry: string,
  now: Date,
  options: Pick<StartSweepOptions, "fresh" | "resumeWithinMs"> = {},
): Promise<{ sweepId: string; startedAt: string; resumed: boolean }> {
  const last = options.fresh ? undefined : await progress.lastRun(registry);
  const window = options.resumeWithinMs ?? DEFAULT_RESUME_WINDOW_MS;
  if (
    last !== undefined &&
    last.finishedAt === undefined &&
    now.getTime() - Date.parse(last.startedAt) < window
  ) {
    return { sweepId: last.sweepId, startedAt: last.startedAt, resumed: true };
  }
  const sweepId = newSweepId(now);
  const startedAt = now.toISOString();
  await progress.saveRun({ sweepId, registry, startedAt });
  return { sweepId, startedAt, resumed: false };
}
