import { InvocationContext } from "@azure/functions";
import { QueueClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIngestRegistryEventsHandler } from "../../../functions/ingestRegistryEvents.js";
import { loadConfig } from "../../../shared/config/config.js";
import { QUEUE_NAMES } from "../../../shared/config/settings.js";
import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import { buildIngestRuntime } from "../../../shared/runtime/index.js";
import { AzuriteProcess, temporaryAzuriteLocation } from "../../helpers/storage.js";
import { FakeEnricher } from "./harness.js";
import { computeTruth, generateStorm, readInventory } from "./storm.js";

/**
 * Storage goes away in the middle of a run: the queue-triggered function fails, its messages
 * come back (as the Functions host makes them visible again after a failure), and once storage
 * is back every event ends up in the inventory exactly as the registry history says.
 */

const REGISTRIES = ["one.azurecr.io", "two.azurecr.io:5000"];
let azurite: AzuriteProcess;
let folder: ReturnType<typeof temporaryAzuriteLocation>;

beforeAll(async () => {
  folder = temporaryAzuriteLocation();
  azurite = await AzuriteProcess.start({ location: folder.location });
});
afterAll(async () => {
  await azurite?.stop();
  folder?.remove();
});

/** The Event Grid schema event ACR would publish for a normalized event (what lands in the queue). */
function toEventGridEvent(event: RegistryEvent): unknown {
  const name = event.registry.split(".")[0];
  return {
    id: event.id,
    topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/${name}`,
    subject: event.tag ? `${event.repository}:${event.tag}` : event.repository,
    eventType:
      event.kind === "push"
        ? "Microsoft.ContainerRegistry.ImagePushed"
        : "Microsoft.ContainerRegistry.ImageDeleted",
    eventTime: event.occurredAt,
    dataVersion: "2.0",
    metadataVersion: "1",
    data: {
      id: event.id,
      timestamp: event.occurredAt,
      action: event.kind,
      location: "westeurope",
      target: {
        mediaType: event.mediaType,
        digest: event.digest,
        repository: event.repository,
        ...(event.kind === "push" && { size: event.size, length: event.size }),
        ...(event.tag !== undefined && { tag: event.tag }),
      },
      request: {
        id: `request-${event.id}`,
        host: event.registry,
        method: event.kind === "push" ? "PUT" : "DELETE",
        useragent: "docker/27.0",
      },
      ...(event.actor !== undefined && { actor: { name: event.actor } }),
    },
  };
}

describe("storage outage during ingestion", () => {
  it("retries the failing messages and converges to the registry's history", async () => {
    const storm = generateStorm({
      uniqueEvents: 160,
      duplicateShare: 0.2,
      seed: 4242,
      registries: REGISTRIES,
      repositories: 6,
    });
    const config = loadConfig({
      ACR_STEWARD_REGISTRIES: REGISTRIES.join(","),
      ACR_STEWARD_STORAGE: azurite.connectionString,
    });
    const runtime = await buildIngestRuntime(config, { enricher: new FakeEnricher() });
    const handler = createIngestRegistryEventsHandler(async () => runtime);
    // The consumer plays the Functions host: it notices a failure at once instead of retrying inside the SDK.
    const queue = new QueueClient(azurite.connectionString, QUEUE_NAMES.registryEvents, {
      retryOptions: { maxTries: 1 },
    });
    await queue.createIfNotExists();
    for (const event of storm.delivered) {
      // Event Grid's queue delivery: one event per message, base64-encoded JSON.
      await queue.sendMessage(Buffer.from(JSON.stringify(toEventGridEvent(event))).toString("base64"));
    }

    let handled = 0;
    let handlerFailures = 0;
    let outage: Promise<void> | undefined;
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline) {
      let batch: Awaited<ReturnType<QueueClient["receiveMessages"]>>["receivedMessageItems"];
      try {
        batch = (await queue.receiveMessages({ numberOfMessages: 16, visibilityTimeout: 2 }))
          .receivedMessageItems;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      if (batch.length === 0) {
        const properties = await queue.getProperties().catch(() => undefined);
        if (properties?.approximateMessagesCount === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      if (handled >= storm.delivered.length / 3 && outage === undefined) {
        // Storage goes down with these messages in hand, for longer than the SDKs' own retries.
        await azurite.stop();
        outage = new Promise((resolve) => setTimeout(resolve, 10_000)).then(() => azurite.start());
      }
      await Promise.all(
        batch.map(async (item) => {
          // As the host does: decode base64, parse JSON, invoke; delete on success only.
          const message = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8"));
          const context = new InvocationContext({
            functionName: "ingestRegistryEvents",
            triggerMetadata: { id: item.messageId, dequeueCount: item.dequeueCount },
            logHandler: () => {},
          });
          try {
            await handler(message, context);
            await queue.deleteMessage(item.messageId, item.popReceipt);
            handled++;
          } catch {
            handlerFailures++;
          }
        }),
      );
    }
    await outage;

    expect(outage).toBeDefined();
    expect(handlerFailures).toBeGreaterThan(0);
    expect(handled).toBe(storm.delivered.length);
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
    const truth = computeTruth(storm.history);
    const repositories = new Set(storm.history.map((event) => `${event.registry}/${event.repository}`));
    const actual = await readInventory(runtime.ingest.inventory, repositories);
    expect(new Map([...actual.manifests].sort())).toEqual(new Map([...truth.manifests].sort()));
    expect(new Map([...actual.tags].sort())).toEqual(new Map([...truth.tags].sort()));
  }, 200_000);
});
