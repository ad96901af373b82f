import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import {
  eventTimeOrder,
  isPresent,
  type ManifestState,
  mergeManifestEvent,
  mergeTagEvent,
  mergeTagRemoval,
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

describe("mergeTagRemoval (tag tombstones)", () => {
  const tagged = (id: string, occurredAt: string, digest = digestOf(1)) => ({
    ...event({ id, occurredAt, digest }),
    tag: "v1",
  });
  const removal = (at: string, id = "sweep:s:untag") => ({ at, order: eventTimeOrder(at), eventId: id });
  const pushed = mergeTagEvent(undefined, tagged("p1", "2024-01-01T00:00:00Z")).state;
  const gone = mergeTagRemoval(pushed, digestOf(1), removal("2024-01-05T00:00:00Z"));

  it("hides the tag, and a delayed push from before the observation does not bring it back", () => {
    expect(gone).toBeDefined();
    if (!gone) return;
    expect(tagExists(gone, undefined)).toBe(false);
    const late = mergeTagEvent(gone, tagged("p2", "2024-01-03T00:00:00Z", digestOf(2)));
    expect(late).toMatchObject({ outcome: "stale", changed: false });
    expect(tagExists(late.state, undefined)).toBe(false);
  });

  it("lets a push after the observation bring the tag back, keeping the tombstone for older ones", () => {
    if (!gone) throw new Error("removal did not apply");
    const back = mergeTagEvent(gone, tagged("p3", "2024-01-06T00:00:00Z", digestOf(2)));
    expect(back).toMatchObject({ outcome: "applied", changed: true, movedFrom: undefined });
    expect(tagExists(back.state, undefined)).toBe(true);
    expect(back.state.removed?.eventId).toBe("sweep:s:untag");
    expect(mergeTagEvent(back.state, tagged("p2", "2024-01-03T00:00:00Z")).outcome).toBe("stale");
    // A push at the very instant the listing started may be one it missed: it stands.
    const atObservation = mergeTagEvent(gone, tagged("p4", "2024-01-05T00:00:00Z"));
    expect(atObservation.outcome).toBe("applied");
    expect(tagExists(atObservation.state, undefined)).toBe(true);
  });

  it("does not apply to a tag pushed at or after the observation, or now naming another digest", () => {
    expect(mergeTagRemoval(pushed, digestOf(1), removal("2024-01-01T00:00:00Z"))).toBeUndefined();
    expect(mergeTagRemoval(pushed, digestOf(2), removal("2024-01-05T00:00:00Z"))).toBeUndefined();
    if (!gone) throw new Error("removal did not apply");
    expect(mergeTagRemoval(gone, digestOf(1), removal("2024-01-05T00:00:00Z"))).toBeUndefined();
    expect(mergeTagRemoval(gone, digestOf(1), removal("2024-01-04T00:00:00Z", "older"))).toBeUndefined();
    expect(
      mergeTagRemoval(gone, digestOf(1), removal("2024-01-07T00:00:00Z", "newer"))?.removed?.eventId,
    ).toBe("newer");
  });

  it("gives the same visible tag whatever the order of pushes and the removal", () => {
    const events = [
      tagged("p1", "2024-01-01T00:00:00Z"),
      tagged("p2", "2024-01-03T00:00:00Z"),
      tagged("p3", "2024-01-06T00:00:00Z", digestOf(2)),
    ];
    const at = removal("2024-01-05T00:00:00Z");
    fc.assert(
      fc.property(fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }), (order) => {
        let state: TagState | undefined;
        for (const step of order) {
          if (step === 3) {
            // The sweep saw the tag on digest 1 (pushes 1 and 2 name it).
            if (state) state = mergeTagRemoval(state, digestOf(1), at) ?? state;
          } else state = mergeTagEvent(state, events[step] as (typeof events)[number]).state;
        }
        const visible = state && tagExists(state, undefined) ? state.digest : undefined;
        // Push 3 is newer than the observation: it always stands.
        expect(visible).toBe(digestOf(2));
      }),
    );
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
