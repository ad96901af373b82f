import { NotFoundError, PartialListingError } from "../errors/index.js";
import type { ManifestDescription } from "../inventory/model.js";
import type { InventoryStore, ManifestRecord } from "../inventory/ports.js";
import type { FollowUp } from "../queues/followUp.js";
import { isImageConfig } from "../registry/ociManifest.js";
import type { ManifestSummary, Registry } from "../registry/registry.js";
import { isIndexSummary, type ListingEnricher } from "./describe.js";
import { planReconciliation, type ReconciliationPlan } from "./observe.js";
import type { RepositoryCounts, SweepProgress } from "./progress.js";
import type { TagRemovals } from "./tagRemovals.js";

/**
 * Reconciles one repository: streams its manifests (ACR's manifest listing with metadata, one call
 * per page, never one per tag), diffs them with the inventory and applies the difference through
 * the inventory's order-safe API, then asks for scans and retention. A listing that stops half-way
 * adds what it saw, removes nothing, and fails the repository so that it is retried on its own.
 */

export interface ReconcileDependencies {
  readonly registry: Registry;
  readonly inventory: InventoryStore;
  /** The inventory's enricher (so new digests are described from the listing). */
  readonly enricher: ListingEnricher;
  readonly tagRemovals: TagRemovals;
  readonly followUp: FollowUp;
  readonly progress: SweepProgress;
  readonly now: () => Date;
}

export interface ReconcileOptions {
  /** Send a (debounced) retention request for the repository; the CLI plans retention itself instead. */
  readonly queueRetention?: boolean;
  /** Keep the listing and descriptions in the result (the CLI's picture and retention plan). */
  readonly keepListing?: boolean;
  /** Told how many manifests the listing has yielded so far. */
  readonly onManifests?: (count: number) => void;
  /** Follow-up requests in flight at once. */
  readonly concurrency?: number;
  /**
   * How many sweeps it takes to check every image's scan freshness. 1 (the default): every image, every
   * sweep. N: digests new to the inventory every sweep, the others in N rotating slices (by digest),
   * so each is checked once per N sweeps at 1/N of the storage reads (daily sweeps, weekly freshness:
   * 7). 0: queue no scans (inventory-only sweeps).
   */
  readonly scanSlices?: number;
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

export interface ReconcileTarget {
  readonly sweepId: string;
  readonly registry: string;
  readonly repository: string;
}

export interface RepositoryReconciliation {
  readonly repository: string;
  /** Already finished by this sweep earlier (resumed run): nothing was redone. */
  readonly alreadyDone: boolean;
  readonly counts: RepositoryCounts;
  /** Present when `keepListing`: what the registry listed, with each digest's content description. */
  readonly listing?: readonly ManifestSummary[];
  readonly descriptions?: ReadonlyMap<string, ManifestDescription>;
  readonly retentionQueued: boolean;
  readonly newerThanObservation: number;
}

const DEFAULT_CONCURRENCY = 8;

export async function reconcileRepository(
  target: ReconcileTarget,
  dependencies: ReconcileDependencies,
  options: ReconcileOptions = {},
): Promise<RepositoryReconciliation> {
  const { registry, inventory, enricher, tagRemovals, followUp, progress } = dependencies;
  const finished = await progress.completed(target.sweepId, target.registry, target.repository);
  if (finished !== undefined) {
    return {
      repository: target.repository,
      alreadyDone: true,
      counts: finished,
      retentionQueued: false,
      newerThanObservation: 0,
    };
  }

  const observedAt = dependencies.now();
  const manifests: ManifestSummary[] = [];
  let failure: PartialListingError | undefined;
  try {
    for await (const summary of registry.listManifests(target.repository, {
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })) {
      manifests.push(summary);
      options.onManifests?.(manifests.length);
    }
  } catch (error) {
    if (error instanceof PartialListingError) failure = error;
    // The repository went away between the catalog and now: its complete listing is empty.
    else if (!(error instanceof NotFoundError)) throw error;
  }

  const rows: ManifestRecord[] = [];
  for await (const row of inventory.listImages({
    registry: target.registry,
    repository: target.repository,
    includeDeleted: true,
  }))
    rows.push(row);

  const plan = planReconciliation(
    {
      registry: target.registry,
      repository: target.repository,
      manifests,
      complete: failure === undefined,
      observedAt,
      listsUntagged: registry.capabilities.listsUntaggedManifests,
    },
    rows,
    target.sweepId,
  );
  const { described } = await enricher.withListing(manifests, () => applyPlan(plan, inventory));
  const tagsRemoved =
    plan.tagRemovals.length === 0
      ? 0
      : await tagRemovals.remove(target.registry, target.repository, plan.tagRemovals, observedAt);

  const scansQueued = await requestScans(
    target,
    manifests,
    new Set(plan.added),
    followUp,
    observedAt,
    options,
  );
  const counts: RepositoryCounts = {
    manifests: manifests.length,
    tags: manifests.reduce((sum, summary) => sum + summary.tags.length, 0),
    bytes: manifests.reduce((sum, summary) => sum + (summary.sizeBytes ?? 0), 0),
    added: plan.added.length,
    updated: plan.retagged.length + plan.enrich.length,
    tombstoned: plan.tombstoned.length,
    tagsRemoved,
    scansQueued,
  };
  // What was seen is recorded; the repository as a whole failed and is retried by its own message.
  if (failure !== undefined) throw failure;

  let retentionQueued = false;
  if (options.queueRetention) {
    const decision = await followUp.requestRetention(
      { registry: target.registry, repository: target.repository, trigger: "sweep" },
      `sweep:${target.sweepId}`,
      observedAt,
    );
    retentionQueued = decision === "queued";
  }
  await progress.markCompleted(target.sweepId, target.registry, target.repository, counts);

  const result: RepositoryReconciliation = {
    repository: target.repository,
    alreadyDone: false,
    counts,
    retentionQueued,
    newerThanObservation: plan.newerThanObservation,
  };
  if (!options.keepListing) return result;
  const descriptions = new Map<string, ManifestDescription>();
  for (const row of rows) if (row.description !== undefined) descriptions.set(row.digest, row.description);
  for (const [digest, description] of described) descriptions.set(digest, description);
  return { ...result, listing: manifests, descriptions };
}

async function applyPlan(plan: ReconciliationPlan, inventory: InventoryStore): Promise<void> {
  if (plan.events.length === 0) return;
  const { rejected } = await inventory.applyAll(plan.events);
  // Names come from the registry's own listing and passed its grammar; a rejection is a bug to surface.
  if (rejected[0] !== undefined) throw rejected[0].error;
}

/**
 * Scans are asked for every image the repository holds (not for artifacts such as signatures, and
 * not for platform images of an index: the index's scan covers them). The scheduler answers from
 * the scans table and its marks: digests scanned recently or already queued are not queued again.
 */
async function requestScans(
  target: ReconcileTarget,
  manifests: readonly ManifestSummary[],
  added: ReadonlySet<string>,
  followUp: FollowUp,
  now: Date,
  options: ReconcileOptions,
): Promise<number> {
  const slices = options.scanSlices ?? 1;
  if (slices <= 0) return 0;
  const slice = Math.floor(now.getTime() / 86_400_000) % slices;
  const children = new Set<string>();
  for (const summary of manifests) for (const child of summary.children) children.add(child.digest);
  const images = manifests.filter(
    (summary) =>
      (added.has(summary.digest) || slices === 1 || sliceOf(summary.digest, slices) === slice) &&
      !children.has(summary.digest) &&
      summary.artifactType === undefined &&
      summary.configMediaType !== "application/vnd.cncf.helm.config.v1+json" &&
      (isIndexSummary(summary) ||
        summary.configMediaType === undefined ||
        isImageConfig(summary.configMediaType)),
  );
  let queued = 0;
  let next = 0;
  const workers = Array.from(
    { length: Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, images.length)) },
    async () => {
      while (next < images.length) {
        const summary = images[next++] as ManifestSummary;
        const decision = await followUp.requestScan(
          {
            registry: target.registry,
            repository: target.repository,
            digest: summary.digest,
            reason: "sweep",
          },
          `sweep:${target.sweepId}`,
          now,
        );
        if (decision === "queued") queued += 1;
      }
    },
  );
  await Promise.all(workers);
  return queued;
}

/** A digest's slice: its first 8 hex digits (digests are uniformly distributed). */
function sliceOf(digest: string, slices: number): number {
  const hex = digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 9);
  return Number.parseInt(hex, 16) % slices;
}
