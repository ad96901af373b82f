import type { RegistryEvent } from "../events/registryEvent.js";
import { eventTimeOrder } from "../inventory/model.js";
import type { ManifestRecord } from "../inventory/ports.js";
import type { ManifestSummary } from "../registry/registry.js";

/**
 * The heart of a reconciliation: what the registry showed for one repository (a listing that
 * started at `observedAt`) against what the inventory holds, turned into inventory changes.
 *
 * An observation is expressed as events stamped with the listing's start time, so the inventory's
 * own ordering rules decide: a push or delete the inventory recorded after the listing started is
 * newer than the observation and wins; anything older loses to it. Rows changed after the listing
 * started are left alone here as well, so they cost no write.
 *
 * Absence is only evidence when the listing is complete: a partial listing adds and fixes what it
 * saw, and never tombstones a manifest or removes a tag.
 */

export interface RepositoryObservation {
  readonly registry: string;
  readonly repository: string;
  /** Every manifest the listing yielded (all of them when `complete`). */
  readonly manifests: readonly ManifestSummary[];
  /** The listing was followed to its end. */
  readonly complete: boolean;
  /** When the listing started: the observation's event time. */
  readonly observedAt: Date;
  /**
   * The listing shows untagged manifests too (ACR). Where it shows only tagged ones (plain OCI),
   * absence proves nothing about a manifest, so nothing is tombstoned; tags are still fixed.
   */
  readonly listsUntagged?: boolean;
}

/** A tag the inventory holds that the (complete) listing shows on no manifest: it was untagged. */
export interface TagRemoval {
  readonly tag: string;
  /** The digest the inventory says the tag names; the removal only applies while that is still so. */
  readonly digest: string;
  /** Stable per sweep, like the sweep's events: the removal's identity in the tag's register. */
  readonly eventId: string;
}

export interface ReconciliationPlan {
  /** Events to apply through the inventory's order-safe API (source `sweep`). */
  readonly events: readonly RegistryEvent[];
  readonly tagRemovals: readonly TagRemoval[];
  /** Digests the inventory did not hold as present (missed pushes, or recorded without content). */
  readonly added: readonly string[];
  /** Present digests whose tags were wrong in the inventory (moved or missed tags). */
  readonly retagged: readonly string[];
  /** Present rows that still wait for their content to be read. */
  readonly enrich: readonly string[];
  readonly tombstoned: readonly string[];
  /** Inventory rows changed after the listing started: the newer event stands. */
  readonly newerThanObservation: number;
}

const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const UNKNOWN_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";

/** Event ids are stable per sweep, so a repository redone by the same sweep applies nothing twice. */
function observationId(sweepId: string, kind: string, digest: string, tag?: string): string {
  return `sweep:${sweepId}:${kind}:${digest}${tag === undefined ? "" : `:${tag}`}`;
}

function pushEvent(
  observation: RepositoryObservation,
  sweepId: string,
  summary: ManifestSummary,
  tag: string | undefined,
): RegistryEvent {
  const chart = summary.configMediaType === HELM_CONFIG;
  return {
    id: observationId(sweepId, "push", summary.digest, tag),
    kind: chart ? "chartPush" : "push",
    registry: observation.registry,
    repository: observation.repository,
    digest: summary.digest,
    ...(tag === undefined ? {} : { tag }),
    mediaType: summary.mediaType ?? UNKNOWN_MEDIA_TYPE,
    // The listing reports the image size, not the manifest's: unknown here, as in delete events.
    size: 0,
    occurredAt: observation.observedAt.toISOString(),
    actor: "acr-steward sweep",
    source: "sweep",
  };
}

function deleteEvent(
  observation: RepositoryObservation,
  sweepId: string,
  row: ManifestRecord,
): RegistryEvent {
  return {
    id: observationId(sweepId, "delete", row.digest),
    kind: row.artifact === "chart" ? "chartDelete" : "delete",
    registry: observation.registry,
    repository: observation.repository,
    digest: row.digest,
    mediaType: row.mediaType,
    size: 0,
    occurredAt: observation.observedAt.toISOString(),
    actor: "acr-steward sweep",
    source: "sweep",
  };
}

/**
 * @param inventory every row of the repository, deleted ones included (with their present tags).
 * @param sweepId names the run; event ids derive from it.
 */
export function planReconciliation(
  observation: RepositoryObservation,
  inventory: readonly ManifestRecord[],
  sweepId: string,
): ReconciliationPlan {
  const observedOrder = eventTimeOrder(observation.observedAt.toISOString());
  const newerThanListing = (time: string | undefined) =>
    time !== undefined && time !== "" && eventTimeOrder(time) >= observedOrder;
  const rows = new Map(inventory.map((row) => [row.digest, row]));
  const tagOwner = new Map<string, string>();
  for (const row of inventory)
    if (row.state === "present") for (const tag of row.tags) tagOwner.set(tag, row.digest);

  const events: RegistryEvent[] = [];
  const added: string[] = [];
  const retagged: string[] = [];
  const enrich: string[] = [];
  let newerThanObservation = 0;
  const listedTags = new Set<string>();
  const listed = new Set<string>();

  for (const summary of observation.manifests) {
    if (listed.has(summary.digest)) continue;
    listed.add(summary.digest);
    for (const tag of summary.tags) listedTags.add(tag);
    const row = rows.get(summary.digest);
    if (row === undefined || row.state === "deleted") {
      if (row !== undefined && newerThanListing(row.deletedAt)) {
        newerThanObservation += 1;
        continue;
      }
      added.push(summary.digest);
      if (summary.tags.length === 0) events.push(pushEvent(observation, sweepId, summary, undefined));
      for (const tag of summary.tags) events.push(pushEvent(observation, sweepId, summary, tag));
      continue;
    }
    const current = new Set(row.tags);
    const missing = summary.tags.filter((tag) => !current.has(tag));
    if (missing.length > 0) {
      if (newerThanListing(row.lastEventAt)) newerThanObservation += 1;
      else {
        retagged.push(summary.digest);
        for (const tag of missing) events.push(pushEvent(observation, sweepId, summary, tag));
      }
    } else if (row.needsEnrichment && row.artifact === "image") {
      // Recorded while the registry was unreadable: observing it again makes the store read its content.
      enrich.push(summary.digest);
      events.push(pushEvent(observation, sweepId, summary, undefined));
    }
  }

  const tombstoned: string[] = [];
  const tagRemovals: TagRemoval[] = [];
  if (observation.complete) {
    for (const row of inventory) {
      if (row.state !== "present") continue;
      if (!listed.has(row.digest)) {
        if (observation.listsUntagged === false) continue;
        if (newerThanListing(row.lastEventAt)) newerThanObservation += 1;
        else {
          tombstoned.push(row.digest);
          events.push(deleteEvent(observation, sweepId, row));
        }
        continue;
      }
      for (const tag of row.tags) {
        if (!listedTags.has(tag) && tagOwner.get(tag) === row.digest)
          tagRemovals.push({
            tag,
            digest: row.digest,
            eventId: observationId(sweepId, "untag", row.digest, tag),
          });
      }
    }
  }
  return { events, tagRemovals, added, retagged, enrich, tombstoned, newerThanObservation };
}
