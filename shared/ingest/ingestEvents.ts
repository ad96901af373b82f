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
  /** Follow-up requests made at once. */
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

  const outcome = await dependencies.inventory.applyAll(valid.map(({ event }) => event));
  for (const rejected of outcome.rejected) {
    const original = valid[rejected.index];
    errors.push({ eventId: rejected.eventId, index: original?.index ?? -1, message: rejected.error.message });
  }
  const results = outcome.results;
  const rejectedPositions = new Set(outcome.rejected.map((rejected) => rejected.index));
  const acceptedEvents = valid.filter((_, position) => !rejectedPositions.has(position));
  const applied = results.map((result, position) => ({
    event: (acceptedEvents[position] as { event: RegistryEvent }).event,
    result,
  }));

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
  { followUp, concurrency }: IngestDependencies,
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
  const limit = concurrency ?? DEFAULT_CONCURRENCY;
  let scansQueued = 0;
  await forEachLimited([...scans.values()], limit, async (event) => {
    if ((await followUp.requestScan(event, event.id, now)) === "queued") scansQueued++;
  });
  let retentionQueued = 0;
  await forEachLimited([...retention.values()], limit, async (event) => {
    if ((await followUp.requestRetention(event, event.id, now)) === "queued") retentionQueued++;
  });
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
