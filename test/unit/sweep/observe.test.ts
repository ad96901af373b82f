import { describe, expect, it } from "vitest";
import type { ManifestRecord } from "../../../shared/inventory/ports.js";
import type { ManifestSummary } from "../../../shared/registry/registry.js";
import { planReconciliation, type RepositoryObservation } from "../../../shared/sweep/observe.js";

const REGISTRY = "example.azurecr.io";
const REPOSITORY = "team/app";
const T0 = new Date("2026-06-01T12:00:00.000Z");
const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

function listed(n: number, tags: string[] = []): ManifestSummary {
  return {
    registry: REGISTRY,
    repository: REPOSITORY,
    digest: digest(n),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    configMediaType: "application/vnd.oci.image.config.v1+json",
    sizeBytes: 1000,
    tags,
    children: [],
  };
}

function row(n: number, overrides: Partial<ManifestRecord> = {}): ManifestRecord {
  return {
    registry: REGISTRY,
    repository: REPOSITORY,
    digest: digest(n),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    manifestSize: 500,
    artifact: "image",
    state: "present",
    tags: [],
    firstPushedAt: "2026-05-01T00:00:00Z",
    lastPushedAt: "2026-05-01T00:00:00Z",
    pushedBy: undefined,
    deletedAt: undefined,
    deletedBy: undefined,
    description: { platforms: [], children: [] },
    needsEnrichment: false,
    enrichmentError: undefined,
    lastEventAt: "2026-05-01T00:00:00Z",
    lastEventId: "e1",
    ...overrides,
  };
}

function observe(manifests: ManifestSummary[], complete = true): RepositoryObservation {
  return { registry: REGISTRY, repository: REPOSITORY, manifests, complete, observedAt: T0 };
}

describe("planReconciliation", () => {
  it("changes nothing when the inventory already holds the truth", () => {
    const plan = planReconciliation(
      observe([listed(1, ["1.0"]), listed(2)]),
      [row(1, { tags: ["1.0"] }), row(2)],
      "s1",
    );
    expect(plan.events).toEqual([]);
    expect(plan.tagRemovals).toEqual([]);
  });

  it("backfills missed pushes as observations at the listing's start, one per tag", () => {
    const plan = planReconciliation(observe([listed(1, ["a", "b"]), listed(2)]), [], "s1");
    expect(plan.added).toEqual([digest(1), digest(2)]);
    expect(plan.events.map((e) => [e.kind, e.digest, e.tag, e.occurredAt, e.source])).toEqual([
      ["push", digest(1), "a", T0.toISOString(), "sweep"],
      ["push", digest(1), "b", T0.toISOString(), "sweep"],
      ["push", digest(2), undefined, T0.toISOString(), "sweep"],
    ]);
    // The same sweep produces the same ids: redoing a repository applies nothing twice.
    expect(planReconciliation(observe([listed(1, ["a", "b"]), listed(2)]), [], "s1").events).toEqual(
      plan.events,
    );
  });

  it("fixes a moved tag on the manifest the registry shows it on, and removes a vanished tag", () => {
    const plan = planReconciliation(
      observe([listed(1, ["stable"]), listed(2, ["2.0"])]),
      [row(1, { tags: ["old"] }), row(2, { tags: ["2.0", "stable"] })],
      "s1",
    );
    expect(plan.events.map((e) => [e.digest, e.tag])).toEqual([[digest(1), "stable"]]);
    expect(plan.tagRemovals).toEqual([
      { tag: "old", digest: digest(1), eventId: `sweep:s1:untag:${digest(1)}:old` },
    ]);
  });

  it("tombstones a manifest missing from a complete listing, as a delete at the listing's start", () => {
    const plan = planReconciliation(observe([listed(1)]), [row(1), row(2, { tags: ["x"] })], "s1");
    expect(plan.tombstoned).toEqual([digest(2)]);
    expect(plan.events).toMatchObject([{ kind: "delete", digest: digest(2), occurredAt: T0.toISOString() }]);
  });

  it("a partial listing tombstones nothing and removes no tag, but still adds what it saw", () => {
    const plan = planReconciliation(
      observe([listed(1, ["new"]), listed(3)], false),
      [row(1, { tags: ["old"] }), row(2, { tags: ["x"] })],
      "s1",
    );
    expect(plan.tombstoned).toEqual([]);
    expect(plan.tagRemovals).toEqual([]);
    expect(plan.events.map((e) => [e.kind, e.digest, e.tag])).toEqual([
      ["push", digest(1), "new"],
      ["push", digest(3), undefined],
    ]);
  });

  it("leaves rows changed after the listing started to the newer event", () => {
    const later = "2026-06-01T12:00:05Z";
    const plan = planReconciliation(
      observe([listed(1, ["a"]), listed(2)]),
      [
        // deleted after the listing started: the listing may have seen it just before
        row(2, { state: "deleted", deletedAt: later, lastEventAt: later }),
        // pushed after the listing started: absent from the listing, but not gone
        row(3, { lastEventAt: later, lastPushedAt: later }),
      ],
      "s1",
    );
    expect(plan.events.map((e) => [e.kind, e.digest])).toEqual([["push", digest(1)]]);
    expect(plan.tombstoned).toEqual([]);
    expect(plan.newerThanObservation).toBe(2);
  });

  it("revives a manifest deleted before the listing started (it was pushed again)", () => {
    const earlier = "2026-05-20T00:00:00Z";
    const plan = planReconciliation(
      observe([listed(4)]),
      [row(4, { state: "deleted", deletedAt: earlier, lastEventAt: earlier })],
      "s1",
    );
    expect(plan.added).toEqual([digest(4)]);
  });

  it("asks the store to read content again for rows recorded while the registry was unreadable", () => {
    const plan = planReconciliation(
      observe([listed(5)]),
      [row(5, { description: undefined, needsEnrichment: true })],
      "s1",
    );
    expect(plan.enrich).toEqual([digest(5)]);
    expect(plan.events).toHaveLength(1);
  });
});

describe("registries that list tagged manifests only", () => {
  it("tombstone nothing (absence proves nothing there) but still remove vanished tags", () => {
    const plan = planReconciliation(
      { ...observe([listed(1, ["1.0"])]), listsUntagged: false },
      [row(1, { tags: ["1.0", "old"] }), row(2)],
      "s1",
    );
    expect(plan.tombstoned).toEqual([]);
    expect(plan.tagRemovals).toEqual([
      { tag: "old", digest: digest(1), eventId: `sweep:s1:untag:${digest(1)}:old` },
    ]);
  });
});
