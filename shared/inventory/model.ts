import type { RegistryEvent } from "../events/registryEvent.js";

/**
 * The inventory's ordering rules, as pure functions. Every piece of state is a register that keeps
 * the event that last changed it (its time and id), and an event only wins over an older one. A
 * register merge is commutative, associative and idempotent, so the final state depends only on the
 * set of events, not on their order or on how often each arrived.
 *
 * - A manifest keeps its latest push and its latest delete. It is present when the latest push is
 *   newer than the latest delete: a delete leaves a tombstone that a late, older push cannot undo,
 *   while a newer push of the same digest brings it back (the registry really holds it again).
 *   At equal times the delete wins.
 * - A tag keeps the latest push that named it (digest + time) and the latest observation that found
 *   it gone (untagging raises no event: only a sweep's complete listing tells). It exists while that
 *   push is newer than the removal and its manifest has no delete newer than the push: deleting a
 *   manifest removes its tags; re-pushing the digest later without the tag does not bring the tag
 *   back; a delayed push from before the removal does not either.
 */

/** A point in event time: the event's own time, made sortable with sub-millisecond precision. */
export interface Stamp {
  /** The event's time as it arrived (ISO 8601). */
  readonly at: string;
  /** Sortable form: epoch milliseconds (15 digits) followed by the next four fraction digits. */
  readonly order: string;
  readonly eventId: string;
}

/** Event times vary in precision (up to 7 fraction digits) and offset, so compare parsed instants. */
export function eventTimeOrder(isoTime: string): string {
  const epochMs = Date.parse(isoTime);
  if (Number.isNaN(epochMs)) throw new RangeError(`'${isoTime}' is not an ISO 8601 time`);
  const fraction = /T[0-9:]+\.(\d+)/.exec(isoTime)?.[1] ?? "";
  const beyondMs = fraction.slice(3, 7).padEnd(4, "0");
  return `${String(epochMs).padStart(15, "0")}${beyondMs}`;
}

export function stampOf(event: Pick<RegistryEvent, "occurredAt" | "id">): Stamp {
  return { at: event.occurredAt, order: eventTimeOrder(event.occurredAt), eventId: event.id };
}

/** Orders two stamps of the same register: by time, then by event id so every replica agrees. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.order !== b.order) return a.order < b.order ? -1 : 1;
  if (a.eventId === b.eventId) return 0;
  return a.eventId < b.eventId ? -1 : 1;
}

/** A push is newer than a delete only if strictly later: at equal times the delete wins. */
export function pushBeatsDelete(push: Stamp, remove: Stamp | undefined): boolean {
  return remove === undefined || push.order > remove.order;
}

/**
 * A push stands against an observed tag removal unless strictly older: a push at the very instant
 * the listing started may be one the listing missed, so the tie goes to the push.
 */
export function pushOutlivesRemoval(push: Stamp, removed: Stamp | undefined): boolean {
  return removed === undefined || push.order >= removed.order;
}

export interface PushStamp extends Stamp {
  readonly actor?: string | undefined;
  readonly userAgent?: string | undefined;
}

export interface DeleteStamp extends Stamp {
  readonly actor?: string | undefined;
}

/** What the registry says about a manifest's content (read on push; content-addressed, so it never changes). */
export interface ManifestDescription {
  /** Platforms of an image, or of an index's children. Empty for artifacts without a platform. */
  readonly platforms: readonly { architecture: string; os: string; variant?: string | undefined }[];
  readonly createdAt?: string | undefined;
  /** Manifest + config + layers (or the children's total for an index). */
  readonly sizeInBytes?: number | undefined;
  /** Digests of an index's child manifests. */
  readonly children: readonly string[];
  /** The manifest this one refers to (signatures, SBOMs, attestations). */
  readonly subject?: string | undefined;
  readonly artifactType?: string | undefined;
  readonly configMediaType?: string | undefined;
}

export type ArtifactKind = "image" | "chart";

export interface ManifestState {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  /** Bytes of the manifest as the events report them (0 when only deletes were seen). */
  readonly manifestSize: number;
  readonly artifact: ArtifactKind;
  readonly firstPush?: PushStamp | undefined;
  readonly lastPush?: PushStamp | undefined;
  readonly lastDelete?: DeleteStamp | undefined;
  readonly description?: ManifestDescription | undefined;
  /** The registry could not be read when this digest was recorded; a sweep should enrich it later. */
  readonly needsEnrichment: boolean;
  readonly enrichmentError?: string | undefined;
}

export interface TagState {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  readonly push: PushStamp;
  /** The latest observation that the tag was gone (a tag tombstone); a later push brings it back. */
  readonly removed?: Stamp | undefined;
}

/**
 * What an event did to one register set:
 * - `applied`: it changed the recorded state;
 * - `duplicate`: this very event is already the recorded one;
 * - `stale`: a newer event already decided this state;
 * - `tombstoned`: a push recorded under a newer delete (the manifest stays deleted).
 */
export type MergeOutcome = "applied" | "duplicate" | "stale" | "tombstoned";

export function isPresent(state: Pick<ManifestState, "lastPush" | "lastDelete">): boolean {
  return state.lastPush !== undefined && pushBeatsDelete(state.lastPush, state.lastDelete);
}

export function isPushKind(kind: RegistryEvent["kind"]): boolean {
  return kind === "push" || kind === "chartPush";
}

function newer<T extends Stamp>(current: T | undefined, candidate: T): T {
  return current === undefined || compareStamps(candidate, current) > 0 ? candidate : current;
}

function older<T extends Stamp>(current: T | undefined, candidate: T): T {
  return current === undefined || compareStamps(candidate, current) < 0 ? candidate : current;
}

export interface ManifestMerge {
  readonly state: ManifestState;
  readonly changed: boolean;
  readonly outcome: MergeOutcome;
  /** The manifest was absent or deleted before and is present now (a new image to scan). */
  readonly becamePresent: boolean;
}

export function mergeManifestEvent(current: ManifestState | undefined, event: RegistryEvent): ManifestMerge {
  const base: ManifestState = current ?? {
    registry: event.registry,
    repository: event.repository,
    digest: event.digest,
    mediaType: event.mediaType,
    manifestSize: event.size,
    artifact: event.kind === "chartPush" || event.kind === "chartDelete" ? "chart" : "image",
    needsEnrichment: false,
  };
  const wasPresent = current !== undefined && isPresent(current);
  const stamp = stampOf(event);

  if (isPushKind(event.kind)) {
    if (current?.lastPush?.eventId === event.id || current?.firstPush?.eventId === event.id) {
      return { state: base, changed: false, outcome: "duplicate", becamePresent: false };
    }
    const push: PushStamp = { ...stamp, actor: event.actor, userAgent: event.userAgent };
    const lastPush = newer(base.lastPush, push);
    const firstPush = older(base.firstPush, push);
    const changed = current === undefined || lastPush !== base.lastPush || firstPush !== base.firstPush;
    const state: ManifestState = {
      ...base,
      // Deletes do not report a size; the first push that does fills it in.
      manifestSize: base.manifestSize > 0 ? base.manifestSize : event.size,
      lastPush,
      firstPush,
    };
    const present = isPresent(state);
    const outcome: MergeOutcome = !pushBeatsDelete(push, base.lastDelete)
      ? "tombstoned"
      : changed
        ? "applied"
        : "stale";
    return { state, changed, outcome, becamePresent: present && !wasPresent };
  }

  if (current?.lastDelete?.eventId === event.id) {
    return { state: base, changed: false, outcome: "duplicate", becamePresent: false };
  }
  const remove: DeleteStamp = { ...stamp, actor: event.actor };
  const lastDelete = newer(base.lastDelete, remove);
  const changed = current === undefined || lastDelete !== base.lastDelete;
  return {
    state: { ...base, lastDelete },
    changed,
    outcome: changed ? "applied" : "stale",
    becamePresent: false,
  };
}

export interface TagMerge {
  readonly state: TagState;
  readonly changed: boolean;
  readonly outcome: Exclude<MergeOutcome, "tombstoned">;
  /** The digest the tag pointed at before, when this event moved it. */
  readonly movedFrom?: string | undefined;
}

/**
 * Only pushes name tags (ACR does not report tag deletes; a manifest delete ends its tags, and a
 * sweep records a tag it found gone with `mergeTagRemoval`). A push from before a recorded removal
 * changes nothing: the tag was pushed, then removed.
 */
export function mergeTagEvent(
  current: TagState | undefined,
  event: RegistryEvent & { tag: string },
): TagMerge {
  const push: PushStamp = { ...stampOf(event), actor: event.actor, userAgent: event.userAgent };
  if (current !== undefined) {
    if (current.push.eventId === event.id) return { state: current, changed: false, outcome: "duplicate" };
    if (compareStamps(push, current.push) < 0) return { state: current, changed: false, outcome: "stale" };
    if (!pushOutlivesRemoval(push, current.removed))
      return { state: current, changed: false, outcome: "stale" };
  }
  const state: TagState = {
    registry: event.registry,
    repository: event.repository,
    tag: event.tag,
    digest: event.digest,
    push,
    ...(current?.removed !== undefined && { removed: current.removed }),
  };
  const wasNamed = current !== undefined && pushOutlivesRemoval(current.push, current.removed);
  const movedFrom = wasNamed && current.digest !== event.digest ? current.digest : undefined;
  return { state, changed: true, outcome: "applied", movedFrom };
}

/**
 * Records that a complete listing at `removal` showed the tag on no manifest. It applies only while
 * the tag still names `digest` (the one the listing was compared with: a tag that moved meanwhile
 * is left for the next sweep) and its push is older than the observation (a newer push stands);
 * otherwise, or when this or a newer removal is already recorded, the result is undefined: nothing
 * to write.
 */
export function mergeTagRemoval(current: TagState, digest: string, removal: Stamp): TagState | undefined {
  if (current.digest !== digest) return undefined;
  if (pushOutlivesRemoval(current.push, removal)) return undefined;
  if (current.removed !== undefined && compareStamps(removal, current.removed) <= 0) return undefined;
  return { ...current, removed: removal };
}

/**
 * A tag exists while no removal was observed after the push that set it and the manifest it
 * names was not deleted after that push.
 */
export function tagExists(tag: TagState, manifest: Pick<ManifestState, "lastDelete"> | undefined): boolean {
  return pushOutlivesRemoval(tag.push, tag.removed) && pushBeatsDelete(tag.push, manifest?.lastDelete);
}

/** The event that last changed a manifest row (a delete wins a tie, as in `isPresent`). */
export function lastChange(state: Pick<ManifestState, "lastPush" | "lastDelete">): Stamp | undefined {
  if (state.lastDelete === undefined) return state.lastPush;
  if (state.lastPush === undefined) return state.lastDelete;
  return pushBeatsDelete(state.lastPush, state.lastDelete) ? state.lastPush : state.lastDelete;
}
