import type { ValidationError } from "../errors/index.js";
import type { RegistryEvent } from "../events/registryEvent.js";
import type { ArtifactKind, ManifestDescription, MergeOutcome } from "./model.js";

/** Reads a manifest's content from the registry; the registry layer implements it. */
export interface ManifestEnricher {
  /** @throws any error when the registry cannot be read; the inventory then marks the row for later. */
  describe(registry: string, repository: string, digest: string): Promise<ManifestDescription>;
}

export interface ApplyResult {
  readonly eventId: string;
  readonly outcome: MergeOutcome;
  /** The digest was absent or deleted before and is present now. */
  readonly becamePresent: boolean;
  /** The manifest is present after this event (whatever the event did). */
  readonly present: boolean;
  /** The event moved or set a tag (retention may decide differently now). */
  readonly tagChanged: boolean;
  /** The manifest row is waiting for enrichment (the registry could not be read). */
  readonly needsEnrichment: boolean;
  readonly artifact: ArtifactKind;
}

/** One manifest as the inventory knows it. Tags are derived from the tags table, never stored twice. */
export interface ManifestRecord {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly manifestSize: number;
  readonly artifact: ArtifactKind;
  readonly state: "present" | "deleted";
  /** Tags that currently name this manifest, sorted. */
  readonly tags: readonly string[];
  readonly firstPushedAt: string | undefined;
  readonly lastPushedAt: string | undefined;
  readonly pushedBy: string | undefined;
  readonly deletedAt: string | undefined;
  readonly deletedBy: string | undefined;
  readonly description: ManifestDescription | undefined;
  readonly needsEnrichment: boolean;
  readonly enrichmentError: string | undefined;
  /** The event that last changed this row. */
  readonly lastEventAt: string;
  readonly lastEventId: string;
}

export interface TagRecord {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  readonly state: "present" | "deleted";
  readonly pushedAt: string;
  readonly pushedBy: string | undefined;
}

export interface ListImagesOptions {
  readonly registry?: string;
  /** Requires `registry`. */
  readonly repository?: string;
  readonly includeDeleted?: boolean;
}

export interface ListTagsOptions {
  readonly includeDeleted?: boolean;
}

export interface RejectedApply {
  readonly index: number;
  readonly eventId: string;
  /** The event's names cannot be stored (they break the key grammar). */
  readonly error: ValidationError;
}

export interface ApplyAllResult {
  /** One result per accepted event, in input order. */
  readonly results: readonly ApplyResult[];
  readonly rejected: readonly RejectedApply[];
}

/** The image inventory: idempotent, order-safe application of events, and queries. */
export interface InventoryStore {
  /** Applies one event. Duplicates and older events change nothing. @throws on storage failures. */
  apply(event: RegistryEvent): Promise<ApplyResult>;
  /** Applies a batch (cheaper than one by one). @throws on storage failures; bad names are `rejected`. */
  applyAll(events: readonly RegistryEvent[]): Promise<ApplyAllResult>;
  listImages(options?: ListImagesOptions): AsyncIterable<ManifestRecord>;
  getManifest(registry: string, repository: string, digest: string): Promise<ManifestRecord | undefined>;
  listTags(registry: string, repository: string, options?: ListTagsOptions): Promise<TagRecord[]>;
}
