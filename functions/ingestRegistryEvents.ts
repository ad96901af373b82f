import { app, type InvocationContext } from "@azure/functions";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../shared/config/settings.js";
import { parseRegistryEvents } from "../shared/events/parse.js";
import { ingestEvents } from "../shared/ingest/ingestEvents.js";
import { describeProblems, summarizeDelivery } from "../shared/ingest/summary.js";
import { type IngestRuntime, ingestRuntime } from "./composition.js";

/**
 * Queue trigger on `registry-events`, where Event Grid delivers each ACR event as one base64 JSON
 * message (the runtime decodes it; host.json `messageEncoding: base64`).
 *
 * - bad or foreign events are logged and dropped: a retry could never make them valid;
 * - a storage failure is thrown, so the message becomes visible again and is retried, and after
 *   `maxDequeueCount` attempts lands in `registry-events-poison`.
 */
export function createIngestRegistryEventsHandler(runtime: () => Promise<IngestRuntime> = ingestRuntime) {
  return async function ingestRegistryEvents(message: unknown, context: InvocationContext): Promise<void> {
    const { parseOptions, ingest } = await runtime();
    const now = new Date();
    const parsed = parseRegistryEvents(message, { ...parseOptions, now });
    const report = await ingestEvents(parsed.events, ingest, now);
    for (const problem of describeProblems(parsed, report)) context.warn(problem);
    context.log("registry events ingested", {
      messageId: context.triggerMetadata?.id,
      dequeueCount: context.triggerMetadata?.dequeueCount,
      ...summarizeDelivery(parsed, report),
    });
  };
}

export const ingestRegistryEvents = createIngestRegistryEventsHandler();

app.storageQueue("ingestRegistryEvents", {
  queueName: QUEUE_NAMES.registryEvents,
  connection: STORAGE_CONNECTION,
  handler: ingestRegistryEvents,
});
