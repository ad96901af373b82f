import { ensureError, ValidationError } from "../errors/index.js";
import { type RegistryEvent, RegistryEventSchema } from "../events/registryEvent.js";
import type { ApplyResult, InventoryStore } from "../inventory/ports.js";
import type { FollowUp } from "../queues/followUp.js";

/**
 * The one ingest path every entry point shares (queue trigger, Event Grid trigger, webhook, replay):
 * apply each normalized event to the inventory, then ask for the follow-up work.
 *
 * - A problem with one event (it fails validation) is reported and the others still go through.
 * - A storage failure is thrown: the caller's retry (queue redelivery, Event Grid retry, HTTP 5xx)
 *   runs the whole batch again, which is safe because applying an event twice changes nothing.
 */

export interface IngestDependencies {
  readonly inventory: InventoryStore;
  readonly followUp: FollowUp;
  /** Events applied at once (each is independent; the inventory resolves races with ETags). */
  readonly concurrency?: number;
}

export interface IngestEventError {
  readonly eventId: string | undefined;
  /** Where in the input batch the event was (0-based). */
  readonly index: number;
  readonly message: string;
}

export interface IngestReport {
  readonly received: number;
  readonly applied: number;
  readonly duplicates: number;
  readonly stale: number;
  readonly tombstoned: number;
  readonly scansQueued: number;
  readonly retentionQueued: number;
  /** Events recorded without registry details (the registry could not be read); a sweep enriches them. */
  readonly needsEnrichment: number;
  readonly errors: readonly IngestEventError[];
  readonly results: readonly ApplyResult[];
}

const DEFAULT_CONCURRENCY = 8;

/**
 * @example
 * const report = await ingestEvents(events, { inventory, followUp }, new Date());
 * if (report.errors.length > 0) log(report.errors);
 */
export async function ingestEvents(
  events: readonly RegistryEvent[],
  dependencies: IngestDependencies,
  now: Date,
): Promise<IngestReport> {
  const errors: IngestEventError[] = [];
  const valid: { event: RegistryEvent; index: number }[] = [];
  events.forEach((candidate, index) => {
    const parsed = RegistryEventSchema.safeParse(candidate);
    if (parsed.success) valid.push({ event: parsed.data, index });
    else {
      const id = (candidate as { id?: unknown } | undefined)?.id;
      errors.push({
        eventId: typeof id === "string" ? id : undefined,
        index,
        message: parsed.error.issues
          .map((issue) => `${issue.path.join(".") || "(event)"}: ${issue.message}`)
          .join("; "),
      });
    }
  });

  const results: ApplyResult[] = [];
  const applied: { event: RegistryEvent; result: ApplyResult }[] = [];
  await forEachLimited(valid, dependencies.concurrency ?? DEFAULT_CONCURRENCY, async ({ event, index }) => {
    try {
      const result = await dependencies.inventory.apply(event);
      results.push(result);
      applied.push({ event, result });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      errors.push({ eventId: event.id, index, message: ensureError(error).message });
    }
  });

  const { scansQueued, retentionQueued } = await requestFollowUp(applied, dependencies, now);
  const count = (outcome: ApplyResult["outcome"]) =>
    results.filter((result) => result.outcome === outcome).length;
  return {
    received: events.length,
    applied: count("applied"),
    duplicates: count("duplicate"),
    stale: count("stale"),
    tombstoned: count("tombstoned"),
    scansQueued,
    retentionQueued,
    needsEnrichment: results.filter((result) => result.needsEnrichment).length,
    errors: errors.sort((a, b) => a.index - b.index),
    results,
  };
}

/**
 * New images are scanned; pushes that added an image or moved a tag wake retention for their
 * repository. One request per digest and per repository per batch; the scheduler deduplicates
 * across batches. A duplicate push asks again: if its first delivery failed between the inventory
 * write and the queue, this is the only chance to send, and the scheduler's marks (claimed by the
 * event id) keep it from sending twice otherwise.
 */
async function requestFollowUp(
  applied: readonly { event: RegistryEvent; result: ApplyResult }[],
  { followUp }: IngestDependencies,
  now: Date,
): Promise<{ scansQueued: number; retentionQueued: number }> {
  const scans = new Map<string, RegistryEvent>();
  const retention = new Map<string, RegistryEvent>();
  const ordered = [...applied].sort((a, b) =>
    a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0,
  );
  for (const { event, result } of ordered) {
    if (event.kind !== "push") continue;
    const redelivered = result.outcome === "duplicate" && result.present;
    const wantsScan = redelivered || (result.outcome === "applied" && result.becamePresent);
    if (wantsScan && result.artifact === "image" && !scans.has(event.digest)) scans.set(event.digest, event);
    const repositoryKey = `${event.registry}/${event.repository}`;
    const wantsRetention =
      redelivered || (result.outcome === "applied" && (result.becamePresent || result.tagChanged));
    if (wantsRetention && !retention.has(repositoryKey)) retention.set(repositoryKey, event);
  }
  let scansQueued = 0;
  for (const event of scans.values()) {
    const decision = await followUp.requestScan(event, event.id, now);
    if (decision === "queued") scansQueued++;
  }
  let retentionQueued = 0;
  for (const event of retention.values()) {
    const decision = await followUp.requestRetention(event, event.id, now);
    if (decision === "queued") retentionQueued++;
  }
  return { scansQueued, retentionQueued };
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}
