import { describe, expect, it } from "vitest";
import { InvalidReferenceError, UnavailableError } from "../../../shared/errors/index.js";
import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import { ingestEvents } from "../../../shared/ingest/ingestEvents.js";
import { type ManifestState, mergeManifestEvent } from "../../../shared/inventory/model.js";
import type { ApplyAllResult, ApplyResult, InventoryStore } from "../../../shared/inventory/ports.js";
import type { FollowUp, RetentionTarget, ScanTarget } from "../../../shared/queues/followUp.js";

const NOW = new Date("2024-06-01T00:00:00Z");
const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

function push(id: string, overrides: Partial<RegistryEvent> = {}): RegistryEvent {
  return {
    id,
    kind: "push",
    registry: "example.azurecr.io",
    repository: "team/app",
    digest: digestOf(1),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    size: 10,
    occurredAt: "2024-05-01T00:00:00Z",
    source: "eventgrid",
    ...overrides,
  };
}

/** An in-memory inventory following the same merge rules (tags left out: they do not matter here). */
class MemoryInventory implements Pick<InventoryStore, "applyAll"> {
  readonly rows = new Map<string, ManifestState>();
  failWith: Error | undefined;

  async applyAll(events: readonly RegistryEvent[]): Promise<ApplyAllResult> {
    if (this.failWith) throw this.failWith;
    const results: ApplyResult[] = [];
    const rejected: ApplyAllResult["rejected"][number][] = [];
    events.forEach((event, index) => {
      if (event.repository.startsWith("reject")) {
        rejected.push({ index, eventId: event.id, error: new InvalidReferenceError("unstorable name") });
        return;
      }
      const key = `${event.repository}@${event.digest}`;
      const merge = mergeManifestEvent(this.rows.get(key), event);
      this.rows.set(key, merge.state);
      results.push({
        eventId: event.id,
        outcome: merge.outcome,
        becamePresent: merge.becamePresent,
        present: merge.state.lastPush !== undefined,
        tagChanged: false,
        needsEnrichment: false,
        artifact: "image",
      });
    });
    return { results, rejected };
  }
}

class RecordingFollowUp implements FollowUp {
  readonly scans: ScanTarget[] = [];
  readonly retention: RetentionTarget[] = [];
  async requestScan(target: ScanTarget) {
    this.scans.push(target);
    return "queued" as const;
  }
  async requestRetention(target: RetentionTarget) {
    this.retention.push(target);
    return "queued" as const;
  }
}

function dependencies() {
  const inventory = new MemoryInventory();
  const followUp = new RecordingFollowUp();
  return { inventory, followUp, deps: { inventory: inventory as unknown as InventoryStore, followUp } };
}

describe("Function: ingestEvents", () => {
  it("counts outcomes and asks for one scan per new digest and one retention run per repository", async () => {
    const { followUp, deps } = dependencies();
    const events = [
      push("a", { digest: digestOf(1) }),
      push("b", { digest: digestOf(2) }),
      push("c", { digest: digestOf(1), occurredAt: "2024-04-01T00:00:00Z" }),
      push("a", { digest: digestOf(1) }),
    ];
    const report = await ingestEvents(events, deps, NOW);
    expect(report).toMatchObject({
      received: 4,
      applied: 3,
      duplicates: 1,
      scansQueued: 2,
      retentionQueued: 1,
    });
    expect(followUp.scans.map((scan) => scan.digest).sort()).toEqual([digestOf(1), digestOf(2)]);
    expect(followUp.retention).toEqual([expect.objectContaining({ repository: "team/app" })]);
  });

  it("reports an invalid event with its position and still applies the others", async () => {
    const { inventory, deps } = dependencies();
    const broken = { ...push("bad"), digest: "sha256:short" };
    const report = await ingestEvents(
      [broken, push("good"), push("r", { repository: "reject/me" })],
      deps,
      NOW,
    );
    expect(report.errors).toEqual([
      { eventId: "bad", index: 0, message: expect.stringContaining("digest") },
      { eventId: "r", index: 2, message: "unstorable name" },
    ]);
    expect(report.applied).toBe(1);
    expect(inventory.rows.size).toBe(1);
  });

  it("lets a storage failure through so that the delivery is retried", async () => {
    const { inventory, deps } = dependencies();
    inventory.failWith = new UnavailableError("table service down");
    await expect(ingestEvents([push("a")], deps, NOW)).rejects.toBeInstanceOf(UnavailableError);
  });

  it("does not wake follow-up work for deletes or stale events", async () => {
    const { followUp, deps } = dependencies();
    await ingestEvents([push("new", { occurredAt: "2024-05-02T00:00:00Z" })], deps, NOW);
    followUp.scans.length = 0;
    followUp.retention.length = 0;
    const report = await ingestEvents(
      [
        push("old", { occurredAt: "2024-03-01T00:00:00Z" }),
        push("gone", { kind: "delete", digest: digestOf(9) }),
      ],
      deps,
      NOW,
    );
    expect(report.applied).toBe(2); // the old push still moves the first-seen time back
    expect(followUp.scans).toEqual([]);
    expect(followUp.retention).toEqual([]);
  });
});
