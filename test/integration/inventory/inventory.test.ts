import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidReferenceError } from "../../../shared/errors/index.js";
import type { ManifestRecord } from "../../../shared/inventory/ports.js";
import type { TableInventoryStore } from "../../../shared/inventory/tableInventoryStore.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createHarness, digestOf, type Harness, REGISTRY, registryEvent } from "./harness.js";

let connectionString: string;
beforeAll(async () => {
  connectionString = await getTestStorage();
});
afterAll(stopTestStorage);

async function all(iterable: AsyncIterable<ManifestRecord>): Promise<ManifestRecord[]> {
  const records: ManifestRecord[] = [];
  for await (const record of iterable) records.push(record);
  return records;
}

const T1 = "2024-05-01T10:00:00.1000000Z";
const T2 = "2024-05-01T10:00:00.2000000Z";
const T3 = "2024-05-01T10:00:00.3000000Z";
const T4 = "2024-05-01T10:00:00.4000000Z";

describe("Class: TableInventoryStore", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await createHarness(connectionString);
  });

  it("records a push with the registry's details, its tag and who pushed it", async () => {
    const push = registryEvent({ repository: "record/app", tag: "v1", occurredAt: T1, actor: "alice" });
    harness.enricher.descriptions.set(push.digest, {
      platforms: [{ architecture: "arm64", os: "linux", variant: "v8" }],
      createdAt: "2024-04-30T00:00:00Z",
      sizeInBytes: 98765,
      children: [],
      configMediaType: "application/vnd.oci.image.config.v1+json",
    });
    const result = await harness.inventory.apply(push);
    expect(result).toMatchObject({
      outcome: "applied",
      becamePresent: true,
      tagChanged: true,
      needsEnrichment: false,
    });

    const manifest = await harness.inventory.getManifest(REGISTRY, "record/app", push.digest);
    expect(manifest).toMatchObject({
      state: "present",
      tags: ["v1"],
      pushedBy: "alice",
      firstPushedAt: T1,
      manifestSize: 1024,
      needsEnrichment: false,
      lastEventId: push.id,
      description: { sizeInBytes: 98765, platforms: [{ architecture: "arm64", os: "linux", variant: "v8" }] },
    });
    expect(await harness.inventory.listTags(REGISTRY, "record/app")).toEqual([
      expect.objectContaining({ tag: "v1", digest: push.digest, state: "present", pushedAt: T1 }),
    ]);
  });

  it("changes nothing for a duplicate, and does not ask the registry again", async () => {
    const push = registryEvent({ repository: "dup/app", tag: "latest", occurredAt: T1 });
    await harness.inventory.apply(push);
    const before = await harness.inventory.getManifest(REGISTRY, "dup/app", push.digest);
    const calls = harness.enricher.calls;
    const again = await harness.inventory.apply({ ...push });
    expect(again.outcome).toBe("duplicate");
    expect(harness.enricher.calls).toBe(calls);
    expect(await harness.inventory.getManifest(REGISTRY, "dup/app", push.digest)).toEqual(before);
  });

  it("never lets an older event overwrite a newer one", async () => {
    const newer = registryEvent({ repository: "order/app", occurredAt: T3, actor: "newer" });
    const older = registryEvent({ repository: "order/app", occurredAt: T1, actor: "older" });
    await harness.inventory.apply(newer);
    const late = await harness.inventory.apply(older);
    expect(late.outcome).toBe("applied"); // only the first-seen time moves back
    const manifest = await harness.inventory.getManifest(REGISTRY, "order/app", newer.digest);
    expect(manifest).toMatchObject({
      pushedBy: "newer",
      lastPushedAt: T3,
      firstPushedAt: T1,
      lastEventId: newer.id,
    });
    const evenOlder = await harness.inventory.apply(
      registryEvent({ repository: "order/app", occurredAt: T2 }),
    );
    expect(evenOlder.outcome).toBe("stale");
  });

  it("keeps a tombstone against a late older push; a newer push brings the image back", async () => {
    const repository = "tomb/app";
    const push = registryEvent({ repository, tag: "v1", occurredAt: T1 });
    const remove = registryEvent({ repository, kind: "delete", size: 0, occurredAt: T2, actor: "janitor" });
    expect((await harness.inventory.apply(remove)).outcome).toBe("applied");
    const late = await harness.inventory.apply(push);
    expect(late).toMatchObject({ outcome: "tombstoned", becamePresent: false, present: false });
    expect(await harness.inventory.getManifest(REGISTRY, repository, push.digest)).toMatchObject({
      state: "deleted",
      deletedAt: T2,
      deletedBy: "janitor",
      tags: [],
      needsEnrichment: false,
    });
    expect(await harness.inventory.listTags(REGISTRY, repository)).toEqual([]);
    expect(await harness.inventory.listTags(REGISTRY, repository, { includeDeleted: true })).toEqual([
      expect.objectContaining({ tag: "v1", state: "deleted" }),
    ]);
    expect(await all(harness.inventory.listImages({ registry: REGISTRY, repository }))).toEqual([]);
    expect(
      await all(harness.inventory.listImages({ registry: REGISTRY, repository, includeDeleted: true })),
    ).toHaveLength(1);

    const repush = registryEvent({ repository, occurredAt: T3 });
    expect(await harness.inventory.apply(repush)).toMatchObject({ outcome: "applied", becamePresent: true });
    // The digest is back, but its old tag is not: the registry removed it with the manifest.
    expect(await harness.inventory.getManifest(REGISTRY, repository, push.digest)).toMatchObject({
      state: "present",
      tags: [],
    });
  });

  it.each([
    ["in order", false],
    ["out of order", true],
  ])("moves a tag by event time when events arrive %s", async (_name, reversed) => {
    const repository = `move/${reversed ? "reversed" : "ordered"}`;
    const toA = registryEvent({ repository, digest: digestOf(10), tag: "latest", occurredAt: T1 });
    const toB = registryEvent({ repository, digest: digestOf(11), tag: "latest", occurredAt: T2 });
    for (const event of reversed ? [toB, toA] : [toA, toB]) await harness.inventory.apply(event);
    const images = await all(harness.inventory.listImages({ registry: REGISTRY, repository }));
    expect(images.map((image) => [image.digest, image.tags])).toEqual([
      [digestOf(10), []],
      [digestOf(11), ["latest"]],
    ]);
    expect(await harness.inventory.listTags(REGISTRY, repository)).toEqual([
      expect.objectContaining({ tag: "latest", digest: digestOf(11) }),
    ]);
  });

  it("records the event and marks the row when the registry cannot be read", async () => {
    const push = registryEvent({ repository: "enrich/app", digest: digestOf(20), tag: "v1", occurredAt: T1 });
    harness.enricher.unreadable.add(push.digest);
    expect(await harness.inventory.apply(push)).toMatchObject({ outcome: "applied", needsEnrichment: true });
    expect(await harness.inventory.getManifest(REGISTRY, "enrich/app", push.digest)).toMatchObject({
      state: "present",
      tags: ["v1"],
      needsEnrichment: true,
      description: undefined,
      enrichmentError: expect.stringContaining("registry unreachable"),
    });

    harness.enricher.unreadable.delete(push.digest);
    await harness.inventory.apply(
      registryEvent({ repository: "enrich/app", digest: digestOf(20), occurredAt: T2 }),
    );
    expect(await harness.inventory.getManifest(REGISTRY, "enrich/app", push.digest)).toMatchObject({
      needsEnrichment: false,
      enrichmentError: undefined,
      description: expect.objectContaining({ sizeInBytes: 1234 }),
    });
  });

  it("stores an index with thousands of children within the table's property limit", async () => {
    const push = registryEvent({ repository: "huge/index", digest: digestOf(40), occurredAt: T1 });
    const children = Array.from({ length: 3000 }, (_, i) => digestOf(100_000 + i));
    harness.enricher.descriptions.set(push.digest, { platforms: [], children });
    expect((await harness.inventory.apply(push)).outcome).toBe("applied");
    const manifest = await harness.inventory.getManifest(REGISTRY, "huge/index", push.digest);
    expect(manifest?.description?.children.length).toBeGreaterThan(100);
    expect(manifest?.description?.children).toEqual(
      children.slice(0, manifest?.description?.children.length),
    );
  });

  it("keeps registries and nested repositories apart", async () => {
    const a = registryEvent({ registry: "one.azurecr.io", repository: "a/b/c", occurredAt: T1 });
    const b = registryEvent({ registry: "two.azurecr.io", repository: "a/b/c", occurredAt: T1 });
    const c = registryEvent({ registry: "one.azurecr.io", repository: "a/b", occurredAt: T1 });
    for (const event of [a, b, c]) expect((await harness.inventory.apply(event)).outcome).toBe("applied");
    const one = await all(harness.inventory.listImages({ registry: "one.azurecr.io" }));
    expect(one.map((image) => image.repository).sort()).toEqual(["a/b", "a/b/c"]);
    expect(
      await all(harness.inventory.listImages({ registry: "two.azurecr.io", repository: "a/b/c" })),
    ).toHaveLength(1);
  });

  it("resolves concurrent writers to the same rows by event time (ETag races)", async () => {
    const repository = "race/app";
    const events = Array.from({ length: 24 }, (_, i) =>
      registryEvent({
        repository,
        digest: digestOf(30 + (i % 3)),
        tag: "latest",
        occurredAt: new Date(Date.parse(T1) + i * 1000).toISOString(),
        actor: `writer-${i}`,
      }),
    );
    // Four stores over the same tables, as four Functions instances: they only meet through ETags.
    const instances = [harness.inventory, harness.twin(), harness.twin(), harness.twin()];
    const results = await Promise.all(
      events.map((event, i) => (instances[i % instances.length] as TableInventoryStore).apply(event)),
    );
    expect(results.every((result) => result.outcome === "applied" || result.outcome === "stale")).toBe(true);
    const last = events.at(-1);
    const tags = await harness.inventory.listTags(REGISTRY, repository);
    expect(tags).toEqual([
      expect.objectContaining({ tag: "latest", digest: last?.digest, pushedBy: "writer-23" }),
    ]);
    const images = await all(harness.inventory.listImages({ registry: REGISTRY, repository }));
    expect(images.map((image) => image.tags.length).reduce((sum, n) => sum + n, 0)).toBe(1);
    // Each digest's last push is its newest event, whoever wrote last.
    for (const image of images) {
      const newest = events.filter((event) => event.digest === image.digest).at(-1);
      expect(image.lastPushedAt).toBe(newest?.occurredAt);
    }
  });

  it("redoes a write whose remembered ETag another instance made stale (412)", async () => {
    const repository = "stale/etag";
    const first = harness.inventory;
    const second = harness.twin();
    await first.apply(registryEvent({ repository, tag: "v1", occurredAt: T1 }));
    await second.apply(registryEvent({ repository, kind: "delete", size: 0, occurredAt: T3 }));
    // `first` still remembers the row as present; a blind write would bring the image back.
    const late = await first.apply(registryEvent({ repository, tag: "v2", occurredAt: T2 }));
    expect(late).toMatchObject({ outcome: "tombstoned", present: false });
    expect(await harness.inventory.getManifest(REGISTRY, repository, digestOf(1))).toMatchObject({
      state: "deleted",
      deletedAt: T3,
      tags: [],
    });
  });

  it("refuses names that break the key encoding with a validation error", async () => {
    const bad = registryEvent({ repository: "Bad/Name", occurredAt: T4 });
    await expect(harness.inventory.apply(bad)).rejects.toBeInstanceOf(InvalidReferenceError);
  });
});
