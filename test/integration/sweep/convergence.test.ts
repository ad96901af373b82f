import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PartialListingError } from "../../../shared/errors/index.js";
import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import type { ManifestSummary, Registry } from "../../../shared/registry/registry.js";
import { runSweep } from "../../../shared/sweep/runSweep.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createSweepHarness, inventoryView, registryTruth, type SweepHarness } from "./harness.js";

let connectionString: string;
const open: SweepHarness[] = [];

beforeAll(async () => {
  connectionString = await getTestStorage();
}, 60_000);
afterEach(async () => {
  for (const harness of open.splice(0)) await harness.env.close();
});
afterAll(async () => {
  await stopTestStorage();
});

async function harness(
  ...args: Parameters<typeof createSweepHarness> extends [string, ...infer R] ? R : never
) {
  const created = await createSweepHarness(connectionString, ...args);
  open.push(created);
  return created;
}

/** Push events for what the registry holds, stamped `ageMs` in the past. */
async function eventsFor(registry: Registry, ageMs: number): Promise<RegistryEvent[]> {
  const events: RegistryEvent[] = [];
  const at = new Date(Date.now() - ageMs).toISOString();
  for await (const repository of registry.listRepositories())
    for await (const manifest of registry.listManifests(repository)) {
      const tags = manifest.tags.length > 0 ? manifest.tags : [undefined];
      for (const tag of tags)
        events.push({
          id: `evt-${repository}-${manifest.digest.slice(7, 19)}-${tag ?? "untagged"}`,
          kind: "push",
          registry: registry.loginServer,
          repository,
          digest: manifest.digest,
          ...(tag === undefined ? {} : { tag }),
          mediaType: manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
          size: 500,
          occurredAt: at,
          source: "eventgrid",
        });
    }
  return events;
}

async function digestOf(registry: Registry, repository: string, tag: string): Promise<string> {
  for await (const manifest of registry.listManifests(repository))
    if (manifest.tags.includes(tag)) return manifest.digest;
  throw new Error(`${repository}:${tag} not found`);
}

describe("a sweep converges on the registry's truth", () => {
  it("after events were lost, duplicated and reordered, and after untracked changes", async () => {
    const h = await harness({ seed: { kind: "demo" } });
    const { registry } = h;
    const events = await eventsFor(registry, 3600_000);
    // Lose every third event, deliver some twice, and deliver them backwards.
    const delivered = events.filter((_, index) => index % 3 !== 0);
    const duplicated = [...delivered, ...delivered.filter((_, index) => index % 2 === 0)].reverse();
    const api21 = await digestOf(registry, "team/api", "2.1.0");
    const api22 = await digestOf(registry, "team/api", "2.2.0");
    const stale: RegistryEvent[] = [
      // The inventory believes `stable` names 2.2.0 (the move back to 2.1.0 was never seen)...
      { ...(events[0] as RegistryEvent), id: "moved", repository: "team/api", digest: api22, tag: "stable" },
      // ...that a tag still exists which was removed long ago (untagging raises no event)...
      {
        ...(events[0] as RegistryEvent),
        id: "removed",
        repository: "team/api",
        digest: api21,
        tag: "old-stable",
      },
      // ...and that a manifest exists whose delete event was lost.
      {
        ...(events[0] as RegistryEvent),
        id: "phantom",
        repository: "team/api",
        digest: `sha256:${"ab".repeat(32)}`,
        tag: "gone",
      },
    ];
    await h.storage.inventory.applyAll([...stale, ...duplicated]);
    expect(await inventoryView(h)).not.toEqual(await registryTruth(registry));

    const first = await runSweep(h.dependencies);
    expect(first.failed).toEqual([]);
    expect(await inventoryView(h)).toEqual(await registryTruth(registry));
    expect(first.counts.tombstoned).toBe(1);
    expect(first.counts.tagsRemoved).toBe(1);
    expect(first.counts.added).toBeGreaterThan(0);

    // Changes the inventory never heard of: a delete, an untag, a tag moved by a push.
    const web = await collect(registry.listManifests("team/web"));
    const untaggedOld = web.find(
      (m) => m.tags.length === 0 && m.children.length === 0 && !isChildOfIndex(web, m.digest),
    );
    if (untaggedOld === undefined) throw new Error("the demo has untagged team/web builds");
    await registry.deleteManifest("team/web", untaggedOld.digest);
    const base318 = await digestOf(registry, "tools/base", "3.18");
    const untaggedAt = new Date();
    await registry.untag("tools/base", "3.18");
    const content = await registry.getManifest("team/api", "2.0.0");
    await registry.putManifest("team/api", "stable", content);

    const second = await runSweep(h.dependencies);
    expect(second.failed).toEqual([]);
    expect(await inventoryView(h)).toEqual(await registryTruth(registry));
    expect(second.counts).toMatchObject({ tombstoned: 1, tagsRemoved: 1, updated: 1 });

    // A push of the removed tag from before the sweep, delivered late, does not bring it back...
    const tagPush = (id: string, occurredAt: Date): RegistryEvent => ({
      ...(events[0] as RegistryEvent),
      id,
      repository: "tools/base",
      digest: base318,
      tag: "3.18",
      occurredAt: occurredAt.toISOString(),
    });
    await h.storage.inventory.applyAll([tagPush("late-3.18", new Date(untaggedAt.getTime() - 1))]);
    expect(await inventoryView(h)).toEqual(await registryTruth(registry));
    // ...a push after it does (the registry shows it again), and the next sweep agrees.
    await registry.putManifest("tools/base", "3.18", await registry.getManifest("tools/base", base318));
    await h.storage.inventory.applyAll([tagPush("again-3.18", new Date(Date.now() + 1000))]);
    expect(await inventoryView(h)).toEqual(await registryTruth(registry));
    const third = await runSweep(h.dependencies);
    expect(third.counts).toMatchObject({ tombstoned: 0, tagsRemoved: 0, updated: 0 });

    // Every present image was described from the listing or one read; nothing waits for enrichment.
    for await (const row of h.storage.inventory.listImages({ registry: registry.loginServer }))
      if (row.artifact === "image") expect(row.description, row.digest).toBeDefined();
  }, 60_000);

  it("converges the same way with 5% injected 429s and 2% 500s", async () => {
    const h = await harness({
      seed: { kind: "synthetic", repos: 3, manifests: 100 },
      retryAfterSeconds: 0,
      randomSeed: 11,
    });
    const truth = await registryTruth(h.registry);
    h.env.emulator.setFaults({ failRates: { "429": 0.05, "500": 0.02 } });
    // Small pages: many calls, so that faults land in the middle of listings.
    let result = await runSweep(h.dependencies, { pageSize: 5 });
    // A repository that failed past its retries is retried on its own by the next run.
    for (let attempt = 0; attempt < 5 && result.failed.length > 0; attempt++)
      result = await runSweep(h.dependencies, { pageSize: 5 });
    expect(result.failed).toEqual([]);
    expect(
      h.env.emulator.stats().faults.injected429 + h.env.emulator.stats().faults.injected500,
    ).toBeGreaterThan(0);
    h.env.emulator.setFaults({ failRates: {} });
    expect(await inventoryView(h)).toEqual(truth);
  }, 60_000);
});

describe("a listing that fails half-way", () => {
  it("adds what it saw, tombstones nothing, and fails only that repository", async () => {
    let breakListing = false;
    const h = await harness(
      { seed: { kind: "synthetic", repos: 2, manifests: 250 } },
      {
        registry: (real) => withBrokenListing(real, () => breakListing, 120),
      },
    );
    const first = await runSweep(h.dependencies);
    expect(first.failed).toEqual([]);
    const before = await inventoryView(h);
    expect(before).toHaveLength(500);

    // Half the registry disappears from view, and the listing dies after 120 manifests.
    const [repository] = await collect(h.registry.listRepositories());
    const victims = (await collect(h.registry.listManifests(repository as string)))
      .filter((m) => m.tags.length === 0 && m.children.length === 0)
      .slice(0, 20);
    for (const victim of victims) h.env.emulator.store.deleteManifest(repository as string, victim.digest);
    breakListing = true;
    const storeBefore = h.env.emulator.store.counts().manifests;

    const second = await runSweep(h.dependencies, { fresh: true });
    expect(second.failed.map((failure) => failure.repository).sort()).toEqual(
      (await collect(h.registry.listRepositories())).sort(),
    );
    expect(second.counts.tombstoned).toBe(0);
    expect(second.counts.tagsRemoved).toBe(0);
    expect(await inventoryView(h)).toEqual(before);
    expect(h.env.emulator.store.counts().manifests).toBe(storeBefore);
  }, 60_000);
});

describe("resumption", () => {
  it("a sweep killed mid-way resumes without redoing finished repositories", async () => {
    const listed: string[] = [];
    const h = await harness(
      { seed: { kind: "synthetic", repos: 6, manifests: 20 } },
      { registry: (real) => recordingListings(real, listed) },
    );
    const stop = new AbortController();
    const killed = await runSweep(h.dependencies, {
      concurrency: 1,
      signal: stop.signal,
      onRepository: (result) => {
        if (!result.alreadyDone && listed.length >= 2) stop.abort();
      },
    });
    const finishedFirst = [...listed];
    expect(finishedFirst).toHaveLength(2);
    expect(killed.repositories).toBe(6);

    listed.length = 0;
    const resumed = await runSweep(h.dependencies, { concurrency: 2 });
    expect(resumed.sweepId).toBe(killed.sweepId);
    expect(resumed.resumed).toBe(true);
    expect(resumed.alreadyDone).toBe(2);
    expect(listed.sort()).toEqual(
      (await collect(h.registry.listRepositories())).filter((r) => !finishedFirst.includes(r)).sort(),
    );
    expect(await inventoryView(h)).toEqual(await registryTruth(h.registry));

    // Finished: the next run is a new one and redoes everything, writing nothing (nothing changed).
    listed.length = 0;
    const next = await runSweep(h.dependencies);
    expect(next.sweepId).not.toBe(killed.sweepId);
    expect(listed).toHaveLength(6);
    expect(next.counts).toMatchObject({ added: 0, updated: 0, tombstoned: 0, tagsRemoved: 0 });
  }, 60_000);
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function isChildOfIndex(manifests: readonly ManifestSummary[], digest: string): boolean {
  return manifests.some((m) => m.children.some((child) => child.digest === digest));
}

function withBrokenListing(real: Registry, broken: () => boolean, after: number): Registry {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property !== "listManifests") return bound(target, property, receiver);
      return (repository: string, options?: object) => ({
        async *[Symbol.asyncIterator]() {
          let seen = 0;
          for await (const item of target.listManifests(repository, options)) {
            if (broken() && seen === after)
              throw new PartialListingError(`manifests of ${repository} stopped`, {
                listing: repository,
                itemsSeen: seen,
              });
            seen += 1;
            yield item;
          }
        },
      });
    },
  });
}

function recordingListings(real: Registry, listed: string[]): Registry {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property !== "listManifests") return bound(target, property, receiver);
      return (repository: string, options?: object) => {
        listed.push(repository);
        return target.listManifests(repository, options);
      };
    },
  });
}

function bound(target: Registry, property: string | symbol, receiver: unknown): unknown {
  const value = Reflect.get(target, property, receiver);
  return typeof value === "function" ? value.bind(target) : value;
}
