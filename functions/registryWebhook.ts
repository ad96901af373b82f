import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { isTransient } from "../shared/errors/index.js";
import { parseRegistryEvents } from "../shared/events/parse.js";
import {
  authorizeWebhookRequest,
  classifyWebhookRequest,
  SHAPE_OF_DELIVERY,
  type WebhookResponse,
  webhookResponseFor,
  webhookResponseForParseResult,
  webhookResponseForSecret,
} from "../shared/events/webhook.js";
import { ingestEvents } from "../shared/ingest/ingestEvents.js";
import { describeProblems, summarizeDelivery } from "../shared/ingest/summary.js";
import { type IngestRuntime, ingestRuntime } from "./composition.js";

/**
 * HTTP endpoint for Event Grid webhooks (validation handshake), CloudEvents (OPTIONS handshake)
 * and ACR native webhooks (shared-secret header). Valid events of a batch are ingested even when
 * others are rejected; the 400 then names each rejected event. A storage failure answers 503 so
 * the sender retries (ingestion is idempotent).
 */
export function createRegistryWebhookHandler(runtime: () => Promise<IngestRuntime> = ingestRuntime) {
  return async function registryWebhook(
    request: HttpRequest,
    context: InvocationContext,
  ): Promise<HttpResponseInit> {
    const { parseOptions, ingest, webhookSecret } = await runtime();
    const body =
      request.method.toUpperCase() === "POST" ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const classification = classifyWebhookRequest({
      method: request.method,
      headers: request.headers,
      body,
      query: request.query,
    });
    if (
      classification.kind !== "eventgrid-events" &&
      classification.kind !== "cloudevents" &&
      classification.kind !== "acr-webhook"
    ) {
      if (classification.kind === "invalid")
        context.warn(`webhook request refused: ${classification.message}`);
      return toHttp(webhookResponseFor(classification));
    }
    const authorization = authorizeWebhookRequest(classification, request.headers, { secret: webhookSecret });
    if (!authorization.ok) {
      context.warn(`webhook request refused (${authorization.status}): ${authorization.message}`);
      return toHttp(webhookResponseForSecret(authorization));
    }

    const now = new Date();
    const parsed = parseRegistryEvents(classification.body, {
      ...parseOptions,
      now,
      expectedShape: SHAPE_OF_DELIVERY[classification.kind],
      ...(classification.kind === "acr-webhook" &&
        classification.registryHint !== undefined && { defaultRegistry: classification.registryHint }),
    });
    try {
      const report = await ingestEvents(parsed.events, ingest, now);
      for (const problem of describeProblems(parsed, report)) context.warn(problem);
      context.log("webhook delivery ingested", {
        kind: classification.kind,
        ...summarizeDelivery(parsed, report),
      });
      return toHttp(webhookResponseForParseResult(parsed));
    } catch (error) {
      if (!isTransient(error)) throw error;
      context.error("webhook delivery not stored; the sender will retry", error);
      return {
        status: 503,
        headers: { "Retry-After": "30" },
        jsonBody: { error: "storage is unavailable; retry later" },
      };
    }
  };
}

function toHttp(response: WebhookResponse): HttpResponseInit {
  return {
    status: response.status,
    headers: { ...response.headers },
    ...(response.jsonBody !== undefined && { jsonBody: response.jsonBody }),
  };
}

export const registryWebhook = createRegistryWebhookHandler();

app.http("registryWebhook", {
  methods: ["POST", "OPTIONS"],
  authLevel: "function",
  route: "registry-webhook",
  handler: registryWebhook,
});
