import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import {
  eventTimeOrder,
  isPresent,
  type ManifestState,
  mergeManifestEvent,
  mergeTagEvent,
  type TagState,
  tagExists,
} from "../../../shared/inventory/model.js";

const REGISTRY = "example.azurecr.io";
const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

function event(overrides: Partial<RegistryEvent> & Pick<RegistryEvent, "id" | "occurredAt">): RegistryEvent {
  return {
    kind: "push",
    registry: REGISTRY,
    repository: "team/app",
    digest: digestOf(1),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    size: 500,
    source: "eventgrid",
    ...overrides,
  };
}

function applyAll(events: readonly RegistryEvent[]) {
  const manifests = new Map<string, ManifestState>();
  const tags = new Map<string, TagState>();
  for (const e of events) {
    manifests.set(e.digest, mergeManifestEvent(manifests.get(e.digest), e).state);
    if (e.tag !== undefined && e.kind === "push") {
      tags.set(e.tag, mergeTagEvent(tags.get(e.tag), { ...e, tag: e.tag }).state);
    }
  }
  const present = [...manifests.values()].filter(isPresent).map((m) => m.digest);
  const liveTags = [...tags.values()]
    .filter((t) => tagExists(t, manifests.get(t.digest)))
    .map((t) => `${t.tag}->${t.digest}`);
  return { present: present.sort(), tags: liveTags.sort() };
}

/** What a registry that saw the events in time order holds: the truth, computed without our merge rules. */
function replayInTimeOrder(events: readonly RegistryEvent[]) {
  const ordered = [...events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const present = new Set<string>();
  const tags = new Map<string, string>();
  for (const e of ordered) {
    if (e.kind === "push") {
      present.add(e.digest);
      if (e.tag !== undefined) tags.set(e.tag, e.digest);
    } else {
      present.delete(e.digest);
      for (const [tag, digest] of tags) if (digest === e.digest) tags.delete(tag);
    }
  }
  return { present: [...present].sort(), tags: [...tags].map(([t, d]) => `${t}->${d}`).sort() };
}

describe("eventTimeOrder", () => {
  it("orders instants written with different offsets and precisions", () => {
    const a = eventTimeOrder("2024-01-01T10:00:00.1234567Z");
    const b = eventTimeOrder("2024-01-01T11:00:00.1234568+01:00");
    const c = eventTimeOrder("2024-01-01T10:00:00.123Z");
    expect(c < a).toBe(true);
    expect(a < b).toBe(true);
  });

  it("rejects text that is not a time", () => {
    expect(() => eventTimeOrder("yesterday")).toThrow(RangeError);
  });
});

describe("mergeManifestEvent", () => {
  it("reports a repeated event as a duplicate and changes nothing", () => {
    const push = event({ id: "e1", occurredAt: "2024-01-01T00:00:00Z" });
    const first = mergeManifestEvent(undefined, push);
    const again = mergeManifestEvent(first.state, push);
    expect(first.outcome).toBe("applied");
    expect(first.becamePresent).toBe(true);
    expect(again).toMatchObject({ outcome: "duplicate", changed: false });
    expect(again.state).toBe(first.state);
  });

  it("keeps a tombstone against a late, older push and reports it", () => {
    const push = event({ id: "p", occurredAt: "2024-01-01T00:00:00Z" });
    const remove = event({ id: "d", kind: "delete", size: 0, occurredAt: "2024-01-02T00:00:00Z" });
    const deleted = mergeManifestEvent(undefined, remove);
    const late = mergeManifestEvent(deleted.state, push);
    expect(late.outcome).toBe("tombstoned");
    expect(isPresent(late.state)).toBe(false);
    expect(late.becamePresent).toBe(false);
    expect(late.state.manifestSize).toBe(500);
  });

  it("lets a newer push bring a deleted digest back", () => {
    const remove = event({ id: "d", kind: "delete", occurredAt: "2024-01-02T00:00:00Z" });
    const repush = event({ id: "p2", occurredAt: "2024-01-03T00:00:00Z" });
    const merged = mergeManifestEvent(mergeManifestEvent(undefined, remove).state, repush);
    expect(merged).toMatchObject({ outcome: "applied", becamePresent: true });
  });

  it("lets a delete win a push at the very same time", () => {
    const at = "2024-01-02T00:00:00Z";
    const a = mergeManifestEvent(undefined, event({ id: "z", occurredAt: at }));
    const b = mergeManifestEvent(a.state, event({ id: "a", kind: "delete", occurredAt: at }));
    expect(isPresent(b.state)).toBe(false);
  });
});

describe("mergeTagEvent", () => {
  it("moves a tag only forward in event time", () => {
    const toA = {
      ...event({ id: "a", occurredAt: "2024-01-01T00:00:00Z", digest: digestOf(1) }),
      tag: "latest",
    };
    const toB = {
      ...event({ id: "b", occurredAt: "2024-01-02T00:00:00Z", digest: digestOf(2) }),
      tag: "latest",
    };
    const moved = mergeTagEvent(mergeTagEvent(undefined, toA).state, toB);
    expect(moved).toMatchObject({ outcome: "applied", movedFrom: digestOf(1) });
    const late = mergeTagEvent(mergeTagEvent(undefined, toB).state, toA);
    expect(late.outcome).toBe("stale");
    expect(late.state.digest).toBe(digestOf(2));
  });
});

describe("merge rules as a whole", () => {
  it("reach the registry's final state whatever the order and repetition of events", () => {
    const step = fc.record({
      kind: fc.constantFrom("push", "push", "delete"),
      digest: fc.integer({ min: 1, max: 4 }),
      tag: fc.option(fc.constantFrom("latest", "v1", "v2"), { nil: undefined }),
      gapMs: fc.integer({ min: 1, max: 5000 }),
    });
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer(),
        (steps, duplicatePicks, seed) => {
          let time = Date.parse("2024-01-01T00:00:00Z");
          const history = steps.map((s, i) => {
            time += s.gapMs;
            return event({
              id: `e${i}`,
              kind: s.kind as RegistryEvent["kind"],
              digest: digestOf(s.digest),
              tag: s.kind === "push" ? s.tag : undefined,
              occurredAt: new Date(time).toISOString(),
            });
          });
          const duplicates = duplicatePicks.map((pick) => history[pick % history.length] as RegistryEvent);
          const delivered = shuffle([...history, ...duplicates], seed);
          expect(applyAll(delivered)).toEqual(replayInTimeOrder(history));
        },
      ),
      { numRuns: 300 },
    );
  });
});

function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0 || 1;
  for (let i = items.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
