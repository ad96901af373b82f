import type { QueueClient } from "@azure/storage-queue";
import type { StorageConnection } from "../../../shared/config/config.js";
import { UnavailableError } from "../../../shared/errors/index.js";
import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import type { ManifestDescription } from "../../../shared/inventory/model.js";
import type { ManifestEnricher } from "../../../shared/inventory/ports.js";
import type { StorageCallObserver } from "../../../shared/inventory/storageErrors.js";
import { createTableClient } from "../../../shared/inventory/tableClients.js";
import { TableInventoryStore } from "../../../shared/inventory/tableInventoryStore.js";
import { TableCoordinationMarks } from "../../../shared/queues/coordinationMarks.js";
import { FollowUpScheduler, NEVER_SCANNED, type ScanStatusLookup } from "../../../shared/queues/followUp.js";
import { RetentionRequestSchema, ScanRequestSchema } from "../../../shared/queues/messages.js";
import { createQueueClient } from "../../../shared/queues/queueClients.js";
import { StorageWorkQueue } from "../../../shared/queues/workQueue.js";
import { uniqueName } from "../../helpers/storage.js";

/** An in-memory registry reader: answers from a map, fails for digests marked unreadable. */
export class FakeEnricher implements ManifestEnricher {
  readonly descriptions = new Map<string, ManifestDescription>();
  readonly unreadable = new Set<string>();
  calls = 0;

  async describe(_registry: string, _repository: string, digest: string): Promise<ManifestDescription> {
    this.calls++;
    if (this.unreadable.has(digest)) throw new UnavailableError(`registry unreachable for ${digest}`);
    return (
      this.descriptions.get(digest) ?? {
        platforms: [{ architecture: "amd64", os: "linux" }],
        createdAt: "2024-01-01T00:00:00Z",
        sizeInBytes: 1234,
        children: [],
      }
    );
  }
}

export interface Harness {
  readonly storage: StorageConnection;
  readonly inventory: TableInventoryStore;
  /** Another store over the same tables, as a second Functions instance would have. */
  twin(): TableInventoryStore;
  readonly enricher: FakeEnricher;
  readonly followUp: FollowUpScheduler;
  readonly marks: TableCoordinationMarks;
  readonly scanQueue: QueueClient;
  readonly retentionQueue: QueueClient;
}

export interface HarnessOptions {
  readonly scanStatus?: ScanStatusLookup;
  readonly scanFreshnessMs?: number;
  readonly retentionDebounceMs?: number;
  readonly onStorageCall?: StorageCallObserver;
}

/** Inventory, marks and queues on tables and queues of their own, so parallel tests never meet. */
export async function createHarness(
  connectionString: string,
  options: HarnessOptions = {},
): Promise<Harness> {
  const storage: StorageConnection = { kind: "connectionString", connectionString };
  const observer = options.onStorageCall ? { onStorageCall: options.onStorageCall } : {};
  const enricher = new FakeEnricher();
  const tables = {
    manifests: createTableClient(storage, uniqueName("manifests")),
    tags: createTableClient(storage, uniqueName("tags")),
    audit: createTableClient(storage, uniqueName("audit")),
  };
  const inventory = new TableInventoryStore(tables, { enricher, ...observer });
  const twin = () => new TableInventoryStore(tables, { enricher, ...observer });
  const marks = new TableCoordinationMarks(createTableClient(storage, uniqueName("coordination")), observer);
  const scanQueue = createQueueClient(storage, uniqueName("scan"));
  const retentionQueue = createQueueClient(storage, uniqueName("retention"));
  const scanWork = new StorageWorkQueue(scanQueue, ScanRequestSchema, observer);
  const retentionWork = new StorageWorkQueue(retentionQueue, RetentionRequestSchema, observer);
  await Promise.all([
    inventory.ensureTables(),
    marks.ensureTable(),
    scanWork.ensureQueue(),
    retentionWork.ensureQueue(),
  ]);
  const followUp = new FollowUpScheduler({
    marks,
    scanStatus: options.scanStatus ?? NEVER_SCANNED,
    scanQueue: scanWork,
    retentionQueue: retentionWork,
    scanFreshnessMs: options.scanFreshnessMs ?? 7 * 86_400_000,
    retentionDebounceMs: options.retentionDebounceMs ?? 600_000,
  });
  return { storage, inventory, twin, enricher, followUp, marks, scanQueue, retentionQueue };
}

export const REGISTRY = "example.azurecr.io";

export function digestOf(n: number): string {
  return `sha256:${n.toString(16).padStart(64, "0")}`;
}

let counter = 0;

/** A push (or other kind) with sensible defaults; ids are unique unless given. */
export function registryEvent(
  overrides: Partial<RegistryEvent> & Pick<RegistryEvent, "occurredAt">,
): RegistryEvent {
  counter++;
  return {
    id: `event-${counter}`,
    kind: "push",
    registry: REGISTRY,
    repository: "team/app",
    digest: digestOf(1),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    size: 1024,
    source: "eventgrid",
    actor: "ci-bot",
    ...overrides,
  };
}

/** Every message currently visible in a queue, decoded from base64 JSON. */
export async function drainQueue(queue: QueueClient): Promise<unknown[]> {
  const bodies: unknown[] = [];
  while (true) {
    const received = await queue.receiveMessages({ numberOfMessages: 32 });
    if (received.receivedMessageItems.length === 0) return bodies;
    for (const item of received.receivedMessageItems) {
      bodies.push(JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")));
      await queue.deleteMessage(item.messageId, item.popReceipt);
    }
  }
}
