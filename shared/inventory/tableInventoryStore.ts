import { odata, type TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import { ConflictError, ensureError, ValidationError } from "../errors/index.js";
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
  type Stamp,
  stampOf,
  type TagMerge,
  type TagState,
  tagExists,
} from "./model.js";
import type {
  ApplyAllResult,
  ApplyResult,
  InventoryStore,
  ListImagesOptions,
  ListTagsOptions,
  ManifestEnricher,
  ManifestRecord,
  RejectedApply,
  TagRecord,
} from "./ports.js";
import { observed, type StorageCallObserver, storageStatus, translateStorageError } from "./storageErrors.js";
import { createTableIfMissing } from "./tableClients.js";

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
  /** Rows remembered (with their ETag) between events; 0 turns the memory off. */
  readonly rememberedRows?: number;
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

/** A row of the `tags` table. */
export interface TagEntity {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
  push: string;
  /** The tag tombstone (a Stamp as JSON): the latest observation that found the tag gone. */
  removed?: string;
}

interface Versioned<T> {
  readonly state: T;
  readonly etag: string;
}

const MAX_ERROR_TEXT = 500;
/** Entity-group transactions take at most 100 operations, all in one partition. */
const MAX_TRANSACTION_ACTIONS = 100;
const PARTITION_CONCURRENCY = 4;

interface IndexedEvent {
  readonly event: RegistryEvent;
  readonly index: number;
}

interface RowKind<S> {
  readonly table: "manifests" | "tags";
  readonly name: string;
  /** Prefix of the remembered-row keys. */
  readonly prefix: string;
  toEntity(state: S): object;
  fromEntity(entity: object): S;
}

interface RowWrite<S> {
  readonly rowKey: string;
  readonly state: S;
  readonly etag: string | undefined;
}

class RetryAfterConflict extends Error {}

/**
 * The rows this process wrote or read last, with their ETags. Registers only move forward, so an
 * event that changes nothing against a remembered row changes nothing against the stored one either
 * (no storage call at all), and a write with a remembered ETag that is out of date fails with 412
 * and is redone on a fresh read. Bounded: the oldest rows are forgotten first.
 */
class RememberedRows {
  readonly #rows = new Map<string, Versioned<unknown>>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get<T>(key: string): Versioned<T> | undefined {
    const row = this.#rows.get(key);
    if (row === undefined) return undefined;
    this.#rows.delete(key);
    this.#rows.set(key, row);
    return row as Versioned<T>;
  }

  set<T>(key: string, row: Versioned<T>): void {
    if (this.#capacity <= 0) return;
    this.#rows.delete(key);
    this.#rows.set(key, row);
    if (this.#rows.size > this.#capacity) {
      const oldest = this.#rows.keys().next().value;
      if (oldest !== undefined) this.#rows.delete(oldest);
    }
  }

  forget(key: string): void {
    this.#rows.delete(key);
  }
}

export class TableInventoryStore implements InventoryStore {
  readonly #tables: TableInventoryTables;
  readonly #enricher: ManifestEnricher;
  readonly #observer: StorageCallObserver | undefined;
  readonly #maxAttempts: number;
  readonly #remembered: RememberedRows;
  /**
   * Batches touching the same partition in this process take turns: racing our own writes would
   * only produce 412s and re-reads. Other processes still race, and ETags settle those.
   */
  readonly #partitionTurns = new Map<string, Promise<unknown>>();

  constructor(tables: TableInventoryTables, options: TableInventoryStoreOptions) {
    this.#tables = tables;
    this.#enricher = options.enricher;
    this.#observer = options.onStorageCall;
    this.#maxAttempts = options.maxAttempts ?? 20;
    this.#remembered = new RememberedRows(options.rememberedRows ?? 10_000);
  }

  /** Creates the tables if they do not exist (idempotent; run once per process). */
  async ensureTables(): Promise<void> {
    for (const [name, client] of Object.entries(this.#tables)) {
      await this.#call(`create table ${name}`, () => createTableIfMissing(client));
    }
  }

  async apply(event: RegistryEvent): Promise<ApplyResult> {
    const { results, rejected } = await this.applyAll([event]);
    if (rejected[0]) throw rejected[0].error;
    return results[0] as ApplyResult;
  }

  /**
   * Applies a batch: events of one repository share their reads (one query per 14 rows) and their
   * writes (one entity-group transaction per 100 rows), so a batch costs a few calls per repository
   * instead of several per event. Events whose names cannot be keys are returned as rejected.
   */
  async applyAll(events: readonly RegistryEvent[]): Promise<ApplyAllResult> {
    const rejected: RejectedApply[] = [];
    const byPartition = new Map<string, IndexedEvent[]>();
    events.forEach((event, index) => {
      try {
        const partitionKey = encodeRepositoryKey(event.registry, event.repository);
        encodeDigestKey(event.digest);
        if (event.tag !== undefined) encodeTagKey(event.tag);
        const items = byPartition.get(partitionKey) ?? [];
        items.push({ event, index });
        byPartition.set(partitionKey, items);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        rejected.push({ index, eventId: event.id, error });
      }
    });

    const results = new Map<number, ApplyResult>();
    await forEachLimited([...byPartition], PARTITION_CONCURRENCY, async ([partitionKey, items]) => {
      const applied = await this.#inTurn(partitionKey, () => this.#applyPartition(partitionKey, items));
      for (const [index, result] of applied) results.set(index, result);
    });
    const changed = [...results]
      .filter(([, result]) => result.outcome === "applied" || result.outcome === "tombstoned")
      .map(([index, result]) => ({ event: events[index] as RegistryEvent, outcome: result.outcome }));
    await this.#audit(changed);
    return {
      results: [...results].sort(([a], [b]) => a - b).map(([, result]) => result),
      rejected,
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

  async #applyPartition(
    partitionKey: string,
    items: readonly IndexedEvent[],
  ): Promise<Map<number, ApplyResult>> {
    const manifests = new Map<number, ManifestMerge>();
    const finalManifests = new Map<string, ManifestState>();
    // Read the registry once per digest even if the write is retried: the registry is slower than the table.
    const descriptions = new Map<string, { value?: ManifestDescription; error?: string }>();
    await this.#retrying(`apply events to manifests of ${partitionKey}`, async (fresh) => {
      manifests.clear();
      const digests = [...new Set(items.map((item) => item.event.digest))];
      const rows = await this.#loadRows(MANIFEST_ROWS, partitionKey, digests, fresh);
      const states = new Map(digests.map((digest) => [digest, rows.get(digest)?.state]));
      const changed = new Set<string>();
      for (const { event, index } of items) {
        const merge = mergeManifestEvent(states.get(event.digest), event);
        manifests.set(index, merge);
        states.set(event.digest, merge.state);
        if (merge.changed) changed.add(event.digest);
      }
      const writes: RowWrite<ManifestState>[] = [];
      await Promise.all(
        [...changed].map(async (digest) => {
          let state = states.get(digest) as ManifestState;
          if (state.artifact === "image" && state.description === undefined && isPresent(state)) {
            let description = descriptions.get(digest);
            if (description === undefined) {
              description = await this.#describe(state);
              descriptions.set(digest, description);
            }
            state = { ...state, description: description.value, enrichmentError: description.error };
          }
          state = {
            ...state,
            needsEnrichment:
              state.artifact === "image" && isPresent(state) && state.description === undefined,
          };
          if (state.description !== undefined) state = { ...state, enrichmentError: undefined };
          states.set(digest, state);
          writes.push({ rowKey: digest, state, etag: rows.get(digest)?.etag });
        }),
      );
      await this.#writeRows(MANIFEST_ROWS, partitionKey, writes);
      finalManifests.clear();
      for (const [digest, state] of states) if (state) finalManifests.set(digest, state);
    });

    const tags = new Map<number, TagMerge>();
    const tagItems = items.filter(({ event }) => event.tag !== undefined && isPushKind(event.kind));
    if (tagItems.length > 0) {
      await this.#retrying(`apply events to tags of ${partitionKey}`, async (fresh) => {
        tags.clear();
        const names = [...new Set(tagItems.map((item) => item.event.tag as string))];
        const rows = await this.#loadRows(TAG_ROWS, partitionKey, names, fresh);
        const states = new Map(names.map((name) => [name, rows.get(name)?.state]));
        const changed = new Set<string>();
        for (const { event, index } of tagItems) {
          const tag = event.tag as string;
          const merge = mergeTagEvent(states.get(tag), { ...event, tag });
          tags.set(index, merge);
          states.set(tag, merge.state);
          if (merge.changed) changed.add(tag);
        }
        const writes = [...changed].map((tag) => ({
          rowKey: tag,
          state: states.get(tag) as TagState,
          etag: rows.get(tag)?.etag,
        }));
        await this.#writeRows(TAG_ROWS, partitionKey, writes);
      });
    }

    const results = new Map<number, ApplyResult>();
    for (const { event, index } of items) {
      const manifest = manifests.get(index) as ManifestMerge;
      const tag = tags.get(index);
      const final = finalManifests.get(event.digest) ?? manifest.state;
      const tagChanged = tag?.changed ?? false;
      const outcome =
        manifest.outcome === "tombstoned"
          ? "tombstoned"
          : manifest.changed || tagChanged
            ? "applied"
            : manifest.outcome === "duplicate" || tag?.outcome === "duplicate"
              ? "duplicate"
              : "stale";
      results.set(index, {
        eventId: event.id,
        outcome,
        becamePresent: manifest.becamePresent,
        present: isPresent(final),
        tagChanged,
        needsEnrichment: final.needsEnrichment,
        artifact: final.artifact,
      });
    }
    return results;
  }

  async #describe(state: ManifestState): Promise<{ value?: ManifestDescription; error?: string }> {
    try {
      return { value: await this.#enricher.describe(state.registry, state.repository, state.digest) };
    } catch (error) {
      // Never drop the event because the registry is unreadable: record it and enrich later.
      return { error: ensureError(error).message.slice(0, MAX_ERROR_TEXT) };
    }
  }

  /** One audit row per event that changed the inventory; the row key is the event's own, so rewriting is harmless. */
  async #audit(changed: readonly { event: RegistryEvent; outcome: ApplyResult["outcome"] }[]): Promise<void> {
    const byDay = new Map<string, TransactionAction[]>();
    for (const { event, outcome } of changed) {
      const partitionKey = auditDayKey(event.occurredAt);
      const entity = {
        partitionKey,
        rowKey: `${stampOf(event).order}~${encodeEventIdKey(event.id)}`,
        category: "registry-event",
        action: event.kind,
        outcome,
        registry: event.registry,
        repository: event.repository,
        digest: event.digest,
        ...(event.tag !== undefined && { tag: event.tag }),
        ...(event.actor !== undefined && { actor: event.actor }),
        source: event.source,
        occurredAt: event.occurredAt,
        eventId: event.id,
      };
      const actions = byDay.get(partitionKey) ?? [];
      if (!actions.some(([, existing]) => existing.rowKey === entity.rowKey))
        actions.push(["upsert", entity, "Replace"]);
      byDay.set(partitionKey, actions);
    }
    for (const actions of byDay.values()) {
      for (let start = 0; start < actions.length; start += MAX_TRANSACTION_ACTIONS) {
        const chunk = actions.slice(start, start + MAX_TRANSACTION_ACTIONS);
        const [only] = chunk;
        await this.#call("write audit", async () => {
          if (chunk.length === 1 && only?.[0] === "upsert")
            await this.#tables.audit.upsertEntity(only[1], "Replace");
          else await this.#tables.audit.submitTransaction(chunk);
        });
      }
    }
  }

  /** Current rows (remembered ones unless `fresh`), read with one query per 14 missing keys. */
  async #loadRows<S>(
    kind: RowKind<S>,
    partitionKey: string,
    rowKeys: readonly string[],
    fresh: boolean,
  ): Promise<Map<string, Versioned<S>>> {
    const rows = new Map<string, Versioned<S>>();
    const missing: string[] = [];
    for (const rowKey of rowKeys) {
      const remembered = fresh
        ? undefined
        : this.#remembered.get<S>(`${kind.prefix}|${partitionKey}|${rowKey}`);
      if (remembered) rows.set(rowKey, remembered);
      else missing.push(rowKey);
    }
    const client = this.#tables[kind.table];
    const keep = (rowKey: string, entity: TableEntityResult<object>) => {
      const row = { state: kind.fromEntity(entity), etag: entity.etag };
      rows.set(rowKey, row);
      this.#remembered.set(`${kind.prefix}|${partitionKey}|${rowKey}`, row);
    };
    if (missing.length <= 2) {
      await Promise.all(
        missing.map(async (rowKey) => {
          const entity = await this.#getEntity<object>(client, partitionKey, rowKey, `read ${kind.name}`);
          if (entity) keep(rowKey, entity);
        }),
      );
      return rows;
    }
    // Table queries allow at most 15 comparisons: the partition plus 14 row keys.
    for (let start = 0; start < missing.length; start += 14) {
      const keys = missing.slice(start, start + 14);
      const filter = `${odata`PartitionKey eq ${partitionKey}`} and (${keys.map((key) => odata`RowKey eq ${key}`).join(" or ")})`;
      const pages = client.listEntities<object>({ queryOptions: { filter } }).byPage();
      while (true) {
        const page = await this.#call(`read ${kind.name}s`, () => pages.next());
        if (page.done) break;
        for (const entity of page.value) if (entity.rowKey) keep(entity.rowKey, entity);
      }
    }
    return rows;
  }

  /**
   * Inserts new rows and replaces read ones only if unchanged since (ETag), in transactions of up to
   * 100 rows of the partition. A lost race (409/412) forgets the rows and asks for a fresh attempt.
   */
  async #writeRows<S>(kind: RowKind<S>, partitionKey: string, writes: readonly RowWrite<S>[]): Promise<void> {
    const client = this.#tables[kind.table];
    for (let start = 0; start < writes.length; start += MAX_TRANSACTION_ACTIONS) {
      const chunk = writes.slice(start, start + MAX_TRANSACTION_ACTIONS);
      const actions: TransactionAction[] = chunk.map(({ rowKey, state, etag }) => {
        const entity = { partitionKey, rowKey, ...kind.toEntity(state) };
        return etag === undefined ? ["create", entity] : ["update", entity, "Replace", { etag }];
      });
      try {
        const etags = new Map<string, string | undefined>();
        if (actions.length === 1) {
          const [{ rowKey, state, etag }] = chunk as [RowWrite<S>];
          const entity = { partitionKey, rowKey, ...kind.toEntity(state) };
          const response = await this.#call(`write ${kind.name}`, () =>
            etag === undefined
              ? client.createEntity(entity)
              : client.updateEntity(entity, "Replace", { etag }),
          );
          etags.set(rowKey, response.etag);
        } else {
          const response = await this.#call(`write ${kind.name}s`, () => client.submitTransaction(actions));
          for (const { rowKey } of chunk) etags.set(rowKey, response.getResponseForEntity(rowKey)?.etag);
        }
        for (const { rowKey, state } of chunk) {
          const etag = etags.get(rowKey);
          const key = `${kind.prefix}|${partitionKey}|${rowKey}`;
          if (etag) this.#remembered.set(key, { state, etag });
          else this.#remembered.forget(key);
        }
      } catch (error) {
        for (const { rowKey } of chunk) this.#remembered.forget(`${kind.prefix}|${partitionKey}|${rowKey}`);
        const status = storageStatus(error);
        if (status === 409 || status === 412)
          throw new RetryAfterConflict(`write ${kind.name}`, { cause: error });
        throw error;
      }
    }
  }

  async #readManifest(partitionKey: string, rowKey: string): Promise<Versioned<ManifestState> | undefined> {
    const entity = await this.#getEntity<ManifestEntity>(
      this.#tables.manifests,
      partitionKey,
      rowKey,
      "read manifest",
    );
    if (!entity) return undefined;
    const row = { state: fromManifestEntity(entity), etag: entity.etag };
    this.#remembered.set(`m|${partitionKey}|${rowKey}`, row);
    return row;
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

  async #inTurn<T>(partitionKey: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#partitionTurns.get(partitionKey) ?? Promise.resolve();
    const current = previous.then(work, work);
    const settled = current.catch(() => undefined);
    this.#partitionTurns.set(partitionKey, settled);
    try {
      return await current;
    } finally {
      if (this.#partitionTurns.get(partitionKey) === settled) this.#partitionTurns.delete(partitionKey);
    }
  }

  /** Runs `attempt` until it wins its conditional writes; retries read fresh rows. */
  async #retrying<T>(what: string, attempt: (fresh: boolean) => Promise<T>): Promise<T> {
    let lastConflict: unknown;
    for (let round = 0; round < this.#maxAttempts; round++) {
      try {
        return await attempt(round > 0);
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
    ...(state.description && { description: describeForTable(state.description) }),
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

export function toTagEntity(state: TagState): TagEntity {
  return {
    registry: state.registry,
    repository: state.repository,
    tag: state.tag,
    digest: state.digest,
    pushedAt: state.push.at,
    push: JSON.stringify(state.push),
    ...(state.removed && { removed: JSON.stringify(state.removed) }),
  };
}

export function fromTagEntity(entity: TagEntity): TagState {
  return {
    registry: entity.registry,
    repository: entity.repository,
    tag: entity.tag,
    digest: entity.digest,
    push: JSON.parse(entity.push) as PushStamp,
    ...(entity.removed && { removed: JSON.parse(entity.removed) as Stamp }),
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

const MANIFEST_ROWS: RowKind<ManifestState> = {
  table: "manifests",
  name: "manifest",
  prefix: "m",
  toEntity: toManifestEntity,
  fromEntity: (entity) => fromManifestEntity(entity as ManifestEntity),
};

const TAG_ROWS: RowKind<TagState> = {
  table: "tags",
  name: "tag",
  prefix: "t",
  toEntity: toTagEntity,
  fromEntity: (entity) => fromTagEntity(entity as TagEntity),
};

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}

/** A string property holds at most 64 KiB (32K UTF-16 characters); huge indexes keep their first children. */
const MAX_DESCRIPTION_CHARS = 30_000;

function describeForTable(description: ManifestDescription): string {
  const full = JSON.stringify(description);
  if (full.length <= MAX_DESCRIPTION_CHARS) return full;
  const children = [...description.children];
  while (children.length > 0) {
    children.length = Math.floor(children.length / 2);
    const shortened = JSON.stringify({
      ...description,
      children,
      childrenTruncatedFrom: description.children.length,
    });
    if (shortened.length <= MAX_DESCRIPTION_CHARS) return shortened;
  }
  return JSON.stringify({ ...description, children: [], platforms: description.platforms.slice(0, 50) });
}
