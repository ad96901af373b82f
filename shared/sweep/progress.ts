import { randomBytes } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import { odata } from "@azure/data-tables";
import { z } from "zod";
import { encodeRepositoryKey } from "../inventory/keys.js";
import {
  observed,
  type StorageCallObserver,
  storageStatus,
  translateStorageError,
} from "../inventory/storageErrors.js";
import { createTableIfMissing } from "../inventory/tableClients.js";

/**
 * Sweep runs and their per-repository completion marks, in the `coordination` table. A run has an
 * id; each repository it finished gets a mark with its numbers. A run that was killed is resumed by
 * starting it again with the same id: repositories with a mark are not redone.
 *
 *   run record:  PartitionKey "sweep-runs",        RowKey = registry login server
 *   completion:  PartitionKey "sweep~<sweep id>",  RowKey = encoded registry/repository
 */

export const SweepIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a sweep id is 1-64 letters, digits, '.', '_' or '-'");

/** Counts of one reconciled repository (what the summary adds up). */
export const RepositoryCountsSchema = z.object({
  manifests: z.number().int().nonnegative(),
  tags: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  added: z.number().int().nonnegative(),
  updated: z.number().int().nonnegative(),
  tombstoned: z.number().int().nonnegative(),
  tagsRemoved: z.number().int().nonnegative(),
  scansQueued: z.number().int().nonnegative(),
});

export type RepositoryCounts = z.infer<typeof RepositoryCountsSchema>;

export const EMPTY_COUNTS: RepositoryCounts = {
  manifests: 0,
  tags: 0,
  bytes: 0,
  added: 0,
  updated: 0,
  tombstoned: 0,
  tagsRemoved: 0,
  scansQueued: 0,
};

export function addCounts(a: RepositoryCounts, b: RepositoryCounts): RepositoryCounts {
  return {
    manifests: a.manifests + b.manifests,
    tags: a.tags + b.tags,
    bytes: a.bytes + b.bytes,
    added: a.added + b.added,
    updated: a.updated + b.updated,
    tombstoned: a.tombstoned + b.tombstoned,
    tagsRemoved: a.tagsRemoved + b.tagsRemoved,
    scansQueued: a.scansQueued + b.scansQueued,
  };
}

export interface SweepRun {
  readonly sweepId: string;
  readonly registry: string;
  readonly startedAt: string;
  readonly finishedAt?: string | undefined;
  /** Repositories in the catalog when the run fanned out. */
  readonly repositories?: number | undefined;
}

export interface SweepProgress {
  /** The run last started for this registry (finished or not). */
  lastRun(registry: string): Promise<SweepRun | undefined>;
  /** Records a run as the registry's current one (a new id, or the same id when resuming). */
  saveRun(run: SweepRun): Promise<void>;
  completed(sweepId: string, registry: string, repository: string): Promise<RepositoryCounts | undefined>;
  /** Every repository the run finished, with its counts. */
  listCompleted(sweepId: string, registry: string): Promise<Map<string, RepositoryCounts>>;
  markCompleted(
    sweepId: string,
    registry: string,
    repository: string,
    counts: RepositoryCounts,
  ): Promise<void>;
}

/** `2026-11-27T0300Z-1a2b3c`: sortable, readable, unique enough per registry. */
export function newSweepId(now: Date, random: () => string = () => randomBytes(3).toString("hex")): string {
  const stamp = now.toISOString().slice(0, 16).replace(":", "");
  return `${stamp}Z-${random()}`;
}

const RUNS_PARTITION = "sweep-runs";
const completionPartition = (sweepId: string) => `sweep~${SweepIdSchema.parse(sweepId)}`;

interface RunEntity {
  sweepId: string;
  registry: string;
  startedAt: string;
  finishedAt?: string;
  repositories?: number;
}

interface CompletionEntity {
  registry: string;
  repository: string;
  counts: string;
}

export class TableSweepProgress implements SweepProgress {
  readonly #client: TableClient;
  readonly #observer: StorageCallObserver | undefined;

  /** @param client the `coordination` table. */
  constructor(client: TableClient, options: { onStorageCall?: StorageCallObserver } = {}) {
    this.#client = client;
    this.#observer = options.onStorageCall;
  }

  async ensureTable(): Promise<void> {
    await this.#call("create table coordination", () => createTableIfMissing(this.#client));
  }

  async lastRun(registry: string): Promise<SweepRun | undefined> {
    const entity = await this.#get<RunEntity>(RUNS_PARTITION, registry.toLowerCase());
    if (entity === undefined) return undefined;
    return {
      sweepId: entity.sweepId,
      registry: entity.registry,
      startedAt: entity.startedAt,
      finishedAt: entity.finishedAt,
      repositories: entity.repositories,
    };
  }

  async saveRun(run: SweepRun): Promise<void> {
    const entity = {
      partitionKey: RUNS_PARTITION,
      rowKey: run.registry.toLowerCase(),
      sweepId: SweepIdSchema.parse(run.sweepId),
      registry: run.registry,
      startedAt: run.startedAt,
      ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt }),
      ...(run.repositories === undefined ? {} : { repositories: run.repositories }),
    };
    await this.#call("save sweep run", () => this.#client.upsertEntity(entity, "Replace"));
  }

  async completed(
    sweepId: string,
    registry: string,
    repository: string,
  ): Promise<RepositoryCounts | undefined> {
    const entity = await this.#get<CompletionEntity>(
      completionPartition(sweepId),
      encodeRepositoryKey(registry, repository),
    );
    return entity === undefined ? undefined : parseCounts(entity.counts);
  }

  async listCompleted(sweepId: string, registry: string): Promise<Map<string, RepositoryCounts>> {
    const marks = new Map<string, RepositoryCounts>();
    const filter = odata`PartitionKey eq ${completionPartition(sweepId)} and registry eq ${registry.toLowerCase()}`;
    const pages = this.#client.listEntities<CompletionEntity>({ queryOptions: { filter } }).byPage();
    for (;;) {
      const page = await this.#call("list sweep marks", () => pages.next());
      if (page.done) break;
      for (const entity of page.value) marks.set(entity.repository, parseCounts(entity.counts));
    }
    return marks;
  }

  async markCompleted(
    sweepId: string,
    registry: string,
    repository: string,
    counts: RepositoryCounts,
  ): Promise<void> {
    const entity = {
      partitionKey: completionPartition(sweepId),
      rowKey: encodeRepositoryKey(registry, repository),
      registry: registry.toLowerCase(),
      repository,
      counts: JSON.stringify(counts),
    };
    await this.#call("mark repository swept", () => this.#client.upsertEntity(entity, "Replace"));
  }

  async #get<T extends object>(partitionKey: string, rowKey: string): Promise<T | undefined> {
    return this.#call("read sweep progress", async () => {
      try {
        return await this.#client.getEntity<T>(partitionKey, rowKey);
      } catch (error) {
        if (storageStatus(error) === 404) return undefined;
        throw error;
      }
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

function parseCounts(text: string): RepositoryCounts {
  return RepositoryCountsSchema.parse(JSON.parse(text));
}

/** For domain tests and one-off runs: the same contract in memory. */
export class InMemorySweepProgress implements SweepProgress {
  readonly runs = new Map<string, SweepRun>();
  readonly marks = new Map<string, RepositoryCounts>();

  async lastRun(registry: string): Promise<SweepRun | undefined> {
    return this.runs.get(registry.toLowerCase());
  }
  async saveRun(run: SweepRun): Promise<void> {
    this.runs.set(run.registry.toLowerCase(), run);
  }
  async completed(sweepId: string, registry: string, repository: string) {
    return this.marks.get(`${sweepId}|${registry.toLowerCase()}|${repository}`);
  }
  async listCompleted(sweepId: string, registry: string) {
    const prefix = `${sweepId}|${registry.toLowerCase()}|`;
    const found = new Map<string, RepositoryCounts>();
    for (const [markKey, counts] of this.marks)
      if (markKey.startsWith(prefix)) found.set(markKey.slice(prefix.length), counts);
    return found;
  }
  async markCompleted(sweepId: string, registry: string, repository: string, counts: RepositoryCounts) {
    this.marks.set(`${sweepId}|${registry.toLowerCase()}|${repository}`, counts);
  }
}
