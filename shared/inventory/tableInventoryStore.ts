import { odata, type TableClient, type TableEntityResult } from "@azure/data-tables";
import { ConflictError, ensureError } from "../errors/index.js";
import type { RegistryEvent } from "../events/registryEvent.js";
import { auditDayKey, encodeDigestKey, encodeEventIdKey, encodeRepositoryKey, encodeTagKey } from "./keys.js";
import {
  type DeleteStamp,
  isPresent,
  isPushKind,
  lastChange,
  type ManifestDescription,
  type ManifestMerge,
  type ManifestState,
  mergeManifestEvent,
  mergeTagEvent,
  type PushStamp,
  stampOf,
  type TagMerge,
  type TagState,
  tagExists,
} from "./model.js";
import type {
  ApplyResult,
  InventoryStore,
  ListImagesOptions,
  ListTagsOptions,
  ManifestEnricher,
  ManifestRecord,
  TagRecord,
} from "./ports.js";
import { observed, type StorageCallObserver, storageStatus, translateStorageError } from "./storageErrors.js";

/**
 * The inventory on Azure Table Storage.
 *
 * manifests: PartitionKey = encoded registry/repository, RowKey = digest
 * tags:      PartitionKey = encoded registry/repository, RowKey = tag
 * audit:     PartitionKey = UTC day of the event, RowKey = event time order ~ event id
 *
 * Every write is conditional: a new row is inserted only if absent (409 → re-read), an existing
 * row is replaced only with the ETag it was read with (412 → re-read), and the merge is redone on
 * the fresh row. The merge rules (model.ts) make the result independent of order and repetition.
 */

export interface TableInventoryTables {
  readonly manifests: TableClient;
  readonly tags: TableClient;
  readonly audit: TableClient;
}

export interface TableInventoryStoreOptions {
  readonly enricher: ManifestEnricher;
  /** Told about every storage call (benchmark instrumentation). */
  readonly onStorageCall?: StorageCallObserver;
  /** Attempts at one conditional write before giving up with ConflictError. */
  readonly maxAttempts?: number;
}

interface ManifestEntity {
  registry: string;
  repository: string;
  digest: string;
  mediaType: string;
  manifestSize: number;
  artifact: string;
  state: string;
  firstPush?: string;
  lastPush?: string;
  lastDelete?: string;
  lastEventAt: string;
  lastEventId: string;
  description?: string;
  needsEnrichment: boolean;
  enrichmentError?: string;
}

interface TagEntity {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
  push: string;
}

interface Versioned<T> {
  readonly state: T;
  readonly etag: string;
}

const MAX_ERROR_TEXT = 500;

class RetryAfterConflict extends Error {}

export class TableInventoryStore implements InventoryStore {
  readonly #tables: TableInventoryTables;
  readonly #enricher: ManifestEnricher;
  readonly #observer: StorageCallObserver | undefined;
  readonly #maxAttempts: number;

  constructor(tables: TableInventoryTables, options: TableInventoryStoreOptions) {
    this.#tables = tables;
    this.#enricher = options.enricher;
    this.#observer = options.onStorageCall;
    this.#maxAttempts = options.maxAttempts ?? 20;
  }

  /** Creates the tables if they do not exist (idempotent; run once per process). */
  async ensureTables(): Promise<void> {
    for (const [name, client] of Object.entries(this.#tables)) {
      await this.#call(`create table ${name}`, async () => {
        try {
          await client.createTable();
        } catch (error) {
          if (storageStatus(error) !== 409) throw error;
        }
      });
    }
  }

  async apply(event: RegistryEvent): Promise<ApplyResult> {
    const partitionKey = encodeRepositoryKey(event.registry, event.repository);
    encodeDigestKey(event.digest);
    const manifest = await this.#applyToManifest(partitionKey, event);
    let tag: TagMerge | undefined;
    if (event.tag !== undefined && isPushKind(event.kind)) {
      tag = await this.#applyToTag(partitionKey, { ...event, tag: event.tag });
    }
    const tagChanged = tag?.changed ?? false;
    const outcome =
      manifest.merge.outcome === "tombstoned"
        ? "tombstoned"
        : manifest.merge.changed || tagChanged
          ? "applied"
          : manifest.merge.outcome === "duplicate" || tag?.outcome === "duplicate"
            ? "duplicate"
            : "stale";
    if (manifest.merge.changed || tagChanged) await this.#audit(event, outcome);
    return {
      eventId: event.id,
      outcome,
      becamePresent: manifest.merge.becamePresent,
      present: isPresent(manifest.state),
      tagChanged,
      needsEnrichment: manifest.state.needsEnrichment,
      artifact: manifest.state.artifact,
    };
  }

  async *listImages(options: ListImagesOptions = {}): AsyncIterable<ManifestRecord> {
    const filters: string[] = [];
    if (options.repository !== undefined) {
      if (options.registry === undefined) throw new TypeError("listImages: a repository needs its registry");
      filters.push(odata`PartitionKey eq ${encodeRepositoryKey(options.registry, options.repository)}`);
    } else if (options.registry !== undefined) {
      filters.push(odata`registry eq ${options.registry.toLowerCase()}`);
    }
    if (!options.includeDeleted) filters.push(odata`state eq ${"present"}`);
    const query = filters.length > 0 ? { filter: filters.join(" and ") } : {};

    let tagsPartition: string | undefined;
    let tags: TagState[] = [];
    const pages = this.#tables.manifests.listEntities<ManifestEntity>({ queryOptions: query }).byPage();
    while (true) {
      const page = await this.#call("list manifests", () => pages.next());
      if (page.done) break;
      for (const entity of page.value) {
        const partitionKey = entity.partitionKey ?? "";
        if (partitionKey !== tagsPartition) {
          tagsPartition = partitionKey;
          tags = await this.#listTagStates(partitionKey);
        }
        yield toManifestRecord(fromManifestEntity(entity), tags);
      }
    }
  }

  async getManifest(
    registry: string,
    repository: string,
    digest: string,
  ): Promise<ManifestRecord | undefined> {
    const partitionKey = encodeRepositoryKey(registry, repository);
    const current = await this.#readManifest(partitionKey, encodeDigestKey(digest));
    if (!current) return undefined;
    const tags = await this.#listTagStates(partitionKey, digest);
    return toManifestRecord(current.state, tags);
  }

  async listTags(registry: string, repository: string, options: ListTagsOptions = {}): Promise<TagRecord[]> {
    const partitionKey = encodeRepositoryKey(registry, repository);
    const tags = await this.#listTagStates(partitionKey);
    const digests = [...new Set(tags.map((tag) => tag.digest))];
    const manifests = new Map<string, ManifestState | undefined>();
    await Promise.all(
      digests.map(async (digest) => {
        manifests.set(digest, (await this.#readManifest(partitionKey, digest))?.state);
      }),
    );
    return tags
      .map((tag): TagRecord => {
        const present = tagExists(tag, manifests.get(tag.digest));
        return {
          registry: tag.registry,
          repository: tag.repository,
          tag: tag.tag,
          digest: tag.digest,
          state: present ? "present" : "deleted",
          pushedAt: tag.push.at,
          pushedBy: tag.push.actor,
        };
      })
      .filter((tag) => options.includeDeleted || tag.state === "present")
      .sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  }

  async #applyToManifest(
    partitionKey: string,
    event: RegistryEvent,
  ): Promise<{ merge: ManifestMerge; state: ManifestState }> {
    // Read once per event even if the write is retried: the registry is slower than the table.
    let description: { value?: ManifestDescription; error?: string } | undefined;
    return this.#retrying(`apply ${event.id} to manifest ${event.repository}@${event.digest}`, async () => {
      const current = await this.#readManifest(partitionKey, event.digest);
      const merge = mergeManifestEvent(current?.state, event);
      if (!merge.changed) return { merge, state: merge.state };

      let state = merge.state;
      const wantsDescription =
        state.artifact === "image" &&
        state.description === undefined &&
        isPresent(state) &&
        isPushKind(event.kind);
      if (wantsDescription) {
        description ??= await this.#describe(state);
        state = { ...state, description: description.value, enrichmentError: description.error };
      }
      state = {
        ...state,
        needsEnrichment: state.artifact === "image" && isPresent(state) && state.description === undefined,
      };
      if (state.description !== undefined) state = { ...state, enrichmentError: undefined };

      const entity = { partitionKey, rowKey: event.digest, ...toManifestEntity(state) };
      await this.#writeConditionally(this.#tables.manifests, entity, current?.etag, "write manifest");
      return { merge, state };
    });
  }

  async #applyToTag(partitionKey: string, event: RegistryEvent & { tag: string }): Promise<TagMerge> {
    const rowKey = encodeTagKey(event.tag);
    return this.#retrying(`apply ${event.id} to tag ${event.repository}:${event.tag}`, async () => {
      const current = await this.#readTag(partitionKey, rowKey);
      const merge = mergeTagEvent(current?.state, event);
      if (!merge.changed) return merge;
      const entity = { partitionKey, rowKey, ...toTagEntity(merge.state) };
      await this.#writeConditionally(this.#tables.tags, entity, current?.etag, "write tag");
      return merge;
    });
  }

  async #describe(state: ManifestState): Promise<{ value?: ManifestDescription; error?: string }> {
    try {
      return { value: await this.#enricher.describe(state.registry, state.repository, state.digest) };
    } catch (error) {
      // Never drop the event because the registry is unreadable: record it and enrich later.
      return { error: ensureError(error).message.slice(0, MAX_ERROR_TEXT) };
    }
  }

  async #audit(event: RegistryEvent, outcome: ApplyResult["outcome"]): Promise<void> {
    const stamp = stampOf(event);
    const entity = {
      partitionKey: auditDayKey(event.occurredAt),
      rowKey: `${stamp.order}~${encodeEventIdKey(event.id)}`,
      category: "registry-event",
      action: event.kind,
      outcome,
      registry: event.registry,
      repository: event.repository,
      digest: event.digest,
      tag: event.tag,
      actor: event.actor,
      source: event.source,
      occurredAt: event.occurredAt,
      eventId: event.id,
    };
    // The row key is the event's own, so a repeated write is the same row: idempotent.
    await this.#call("write audit", () => this.#tables.audit.upsertEntity(entity, "Replace"));
  }

  async #readManifest(partitionKey: string, rowKey: string): Promise<Versioned<ManifestState> | undefined> {
    const entity = await this.#getEntity<ManifestEntity>(
      this.#tables.manifests,
      partitionKey,
      rowKey,
      "read manifest",
    );
    return entity ? { state: fromManifestEntity(entity), etag: entity.etag } : undefined;
  }

  async #readTag(partitionKey: string, rowKey: string): Promise<Versioned<TagState> | undefined> {
    const entity = await this.#getEntity<TagEntity>(this.#tables.tags, partitionKey, rowKey, "read tag");
    return entity ? { state: fromTagEntity(entity), etag: entity.etag } : undefined;
  }

  async #listTagStates(partitionKey: string, digest?: string): Promise<TagState[]> {
    const filter =
      digest === undefined
        ? odata`PartitionKey eq ${partitionKey}`
        : odata`PartitionKey eq ${partitionKey} and digest eq ${digest}`;
    const tags: TagState[] = [];
    const pages = this.#tables.tags.listEntities<TagEntity>({ queryOptions: { filter } }).byPage();
    while (true) {
      const page = await this.#call("list tags", () => pages.next());
      if (page.done) break;
      for (const entity of page.value) tags.push(fromTagEntity(entity));
    }
    return tags;
  }

  async #getEntity<T extends object>(
    client: TableClient,
    partitionKey: string,
    rowKey: string,
    operation: string,
  ): Promise<TableEntityResult<T> | undefined> {
    return this.#call(operation, async () => {
      try {
        return await client.getEntity<T>(partitionKey, rowKey);
      } catch (error) {
        if (storageStatus(error) === 404) return undefined;
        throw error;
      }
    });
  }

  /** Insert if absent (etag undefined) or replace if unchanged since read; a lost race asks for a retry. */
  async #writeConditionally(
    client: TableClient,
    entity: { partitionKey: string; rowKey: string } & object,
    etag: string | undefined,
    operation: string,
  ): Promise<void> {
    try {
      await this.#call(operation, () =>
        etag === undefined ? client.createEntity(entity) : client.updateEntity(entity, "Replace", { etag }),
      );
    } catch (error) {
      const status = storageStatus(error);
      if (status === 409 || status === 412) throw new RetryAfterConflict(operation, { cause: error });
      throw error;
    }
  }

  async #retrying<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    let lastConflict: unknown;
    for (let round = 0; round < this.#maxAttempts; round++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RetryAfterConflict)) throw error;
        lastConflict = error.cause;
        // Jittered pause so that racing writers do not collide again in lockstep.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (round + 1)));
      }
    }
    throw new ConflictError(`${what}: still conflicting after ${this.#maxAttempts} attempts`, {
      cause: lastConflict,
    });
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await observed(this.#observer, operation, call);
    } catch (error) {
      throw translateStorageError(error, operation);
    }
  }
}

function toManifestEntity(state: ManifestState): ManifestEntity {
  const last = lastChange(state);
  return {
    registry: state.registry,
    repository: state.repository,
    digest: state.digest,
    mediaType: state.mediaType,
    manifestSize: state.manifestSize,
    artifact: state.artifact,
    state: isPresent(state) ? "present" : "deleted",
    ...(state.firstPush && { firstPush: JSON.stringify(state.firstPush) }),
    ...(state.lastPush && { lastPush: JSON.stringify(state.lastPush) }),
    ...(state.lastDelete && { lastDelete: JSON.stringify(state.lastDelete) }),
    lastEventAt: last?.at ?? "",
    lastEventId: last?.eventId ?? "",
    ...(state.description && { description: JSON.stringify(state.description) }),
    needsEnrichment: state.needsEnrichment,
    ...(state.enrichmentError && { enrichmentError: state.enrichmentError }),
  };
}

function fromManifestEntity(entity: ManifestEntity): ManifestState {
  return {
    registry: entity.registry,
    repository: entity.repository,
    digest: entity.digest,
    mediaType: entity.mediaType,
    manifestSize: entity.manifestSize,
    artifact: entity.artifact === "chart" ? "chart" : "image",
    firstPush: entity.firstPush ? (JSON.parse(entity.firstPush) as PushStamp) : undefined,
    lastPush: entity.lastPush ? (JSON.parse(entity.lastPush) as PushStamp) : undefined,
    lastDelete: entity.lastDelete ? (JSON.parse(entity.lastDelete) as DeleteStamp) : undefined,
    description: entity.description ? (JSON.parse(entity.description) as ManifestDescription) : undefined,
    needsEnrichment: entity.needsEnrichment === true,
    enrichmentError: entity.enrichmentError,
  };
}

function toTagEntity(state: TagState): TagEntity {
  return {
    registry: state.registry,
    repository: state.repository,
    tag: state.tag,
    digest: state.digest,
    pushedAt: state.push.at,
    push: JSON.stringify(state.push),
  };
}

function fromTagEntity(entity: TagEntity): TagState {
  return {
    registry: entity.registry,
    repository: entity.repository,
    tag: entity.tag,
    digest: entity.digest,
    push: JSON.parse(entity.push) as PushStamp,
  };
}

function toManifestRecord(state: ManifestState, tags: readonly TagState[]): ManifestRecord {
  const present = isPresent(state);
  const last = lastChange(state);
  return {
    registry: state.registry,
    repository: state.repository,
    digest: state.digest,
    mediaType: state.mediaType,
    manifestSize: state.manifestSize,
    artifact: state.artifact,
    state: present ? "present" : "deleted",
    tags: tags
      .filter((tag) => tag.digest === state.digest && tagExists(tag, state))
      .map((tag) => tag.tag)
      .sort(),
    firstPushedAt: state.firstPush?.at,
    lastPushedAt: state.lastPush?.at,
    pushedBy: state.lastPush?.actor,
    deletedAt: present ? undefined : state.lastDelete?.at,
    deletedBy: present ? undefined : state.lastDelete?.actor,
    description: state.description,
    needsEnrichment: state.needsEnrichment,
    enrichmentError: state.enrichmentError,
    lastEventAt: last?.at ?? "",
    lastEventId: last?.eventId ?? "",
  };
}
