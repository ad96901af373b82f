import { app, type InvocationContext } from "@azure/functions";
import { parseRegistryEvents } from "../shared/events/parse.js";
import { ingestEvents } from "../shared/ingest/ingestEvents.js";
import { describeProblems, summarizeDelivery } from "../shared/ingest/summary.js";
import { type IngestRuntime, ingestRuntime } from "./composition.js";

/**
 * Event Grid trigger for a direct subscription (optional; the queue path is the primary one). The
 * runtime answers the validation handshake itself. A thrown error makes Event Grid retry the
 * event under the subscription's retry policy; bad events are logged and not retried.
 */
export function createOnRegistryEventHandler(runtime: () => Promise<IngestRuntime> = ingestRuntime) {
  return async function onRegistryEvent(event: unknown, context: InvocationContext): Promise<void> {
    const { parseOptions, ingest } = await runtime();
    const now = new Date();
    const parsed = parseRegistryEvents(event, { ...parseOptions, now });
    const report = await ingestEvents(parsed.events, ingest, now);
    for (const problem of describeProblems(parsed, report)) context.warn(problem);
    context.log("registry event ingested", summarizeDelivery(parsed, report));
  };
}

export const onRegistryEvent = createOnRegistryEventHandler();

app.eventGrid("onRegistryEvent", { handler: onRegistryEvent });
