import { describe, expect, it } from "vitest";
import {
  authorizeWebhookRequest,
  classifyWebhookRequest,
  isWebhookDelivery,
  parseRegistryEvents,
  SHAPE_OF_DELIVERY,
  verifySharedSecret,
  type WebhookClassification,
  type WebhookRequest,
  webhookResponseFor,
  webhookResponseForParseResult,
  webhookResponseForSecret,
} from "../../../shared/events/index.js";
import { CONTOSO, fixtureJson, fixtureText, toCloudEvent } from "./fixtureFiles.js";

const SECRET = "s3cret-value-for-tests";

function post(
  body: unknown,
  headers: Record<string, string> = {},
  query?: Record<string, string>,
): WebhookRequest {
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    ...(query ? { query } : {}),
  };
}

const pushEvent = fixtureJson("eventgrid/image_pushed_v1.json") as Record<string, unknown>;

describe("classifyWebhookRequest", () => {
  it("answers the Event Grid validation handshake with the code", () => {
    const classification = classifyWebhookRequest(
      post(fixtureText("validation/subscription_validation.json"), {
        "aeg-event-type": "SubscriptionValidation",
      }),
    );
    expect(classification).toEqual({
      kind: "eventgrid-validation",
      validationCode: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
      validationUrl: expect.stringMatching(/^https:\/\/rp-westeurope\.eventgrid\.azure\.net:553\//),
    });
    expect(webhookResponseFor(classification)).toEqual({
      status: 200,
      headers: {},
      jsonBody: { validationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" },
    });
  });

  it("recognizes a validation event even without the aeg-event-type header", () => {
    const classification = classifyWebhookRequest(
      post(fixtureJson("validation/subscription_validation.json")),
    );
    expect(classification.kind).toBe("eventgrid-validation");
  });

  it("refuses a validation request whose body is not a validation event", () => {
    const classification = classifyWebhookRequest(
      post([pushEvent], { "aeg-event-type": "SubscriptionValidation" }),
    );
    expect(classification).toMatchObject({ kind: "invalid", status: 400 });
  });

  it("grants the CloudEvents handshake by echoing the origin", () => {
    const classification = classifyWebhookRequest({
      method: "OPTIONS",
      headers: new Headers({ "WebHook-Request-Origin": "eventgrid.azure.net" }),
      body: undefined,
    });
    expect(classification).toEqual({ kind: "cloudevents-handshake", allowedOrigin: "eventgrid.azure.net" });
    const response = webhookResponseFor(classification);
    expect(response?.status).toBe(200);
    expect(response?.headers["WebHook-Allowed-Origin"]).toBe("eventgrid.azure.net");
  });

  it("refuses OPTIONS without an origin, and origins that are not host names", () => {
    expect(classifyWebhookRequest({ method: "OPTIONS", headers: {}, body: undefined })).toMatchObject({
      kind: "invalid",
      status: 400,
    });
    expect(
      classifyWebhookRequest({
        method: "OPTIONS",
        headers: { "webhook-request-origin": "a b" },
        body: undefined,
      }),
    ).toMatchObject({ kind: "invalid", status: 400 });
  });

  it("classifies Event Grid batches, CloudEvents and ACR webhook bodies by their shape", () => {
    expect(
      classifyWebhookRequest(post(JSON.stringify([pushEvent]), { "aeg-event-type": "Notification" })).kind,
    ).toBe("eventgrid-events");
    expect(classifyWebhookRequest(post([toCloudEvent(pushEvent)])).kind).toBe("cloudevents");
    expect(
      classifyWebhookRequest(
        post(toCloudEvent(pushEvent), { "content-type": "application/cloudevents+json" }),
      ).kind,
    ).toBe("cloudevents");
    expect(classifyWebhookRequest(post(fixtureText("webhook/push.json"))).kind).toBe("acr-webhook");
  });

  it("hands the parsed body on, so the parser sees exactly what was classified", () => {
    const classification = classifyWebhookRequest(
      post(new TextEncoder().encode(JSON.stringify([pushEvent]))),
    );
    expect(classification.kind).toBe("eventgrid-events");
    if (classification.kind !== "eventgrid-events") return;
    const result = parseRegistryEvents(classification.body, {
      allowedRegistries: new Set([CONTOSO]),
      unknownEventTypes: "skip",
      expectedShape: SHAPE_OF_DELIVERY[classification.kind],
    });
    expect(result.events).toHaveLength(1);
  });

  it("rebuilds binary-mode CloudEvents from ce-* headers", () => {
    const classification = classifyWebhookRequest(
      post(JSON.stringify(pushEvent.data), {
        "ce-specversion": "1.0",
        "ce-id": "0b7c4f0e-6d2a-4a51-9a36-1f0e8d2b3c41",
        "ce-type": "Microsoft.ContainerRegistry.ImagePushed",
        "ce-source": String(pushEvent.topic),
        "ce-time": "2026-03-02T09:15:27.9034117Z",
      }),
    );
    expect(classification.kind).toBe("cloudevents");
    if (classification.kind !== "cloudevents") return;
    const result = parseRegistryEvents(classification.body, {
      allowedRegistries: new Set([CONTOSO]),
      unknownEventTypes: "reject",
    });
    expect(result.rejected).toEqual([]);
    expect(result.events[0]).toMatchObject({ kind: "push", source: "cloudevents", repository: "team-a/api" });
  });

  it("passes a ?registry= hint along for ACR webhooks", () => {
    const classification = classifyWebhookRequest(
      post(fixtureJson("webhook/chart_push.json"), {}, { registry: CONTOSO }),
    );
    expect(classification).toMatchObject({ kind: "acr-webhook", registryHint: CONTOSO });
  });

  it.each<[string, WebhookRequest, number, RegExp]>([
    ["GET", { method: "GET", headers: {}, body: undefined }, 405, /GET is not allowed/],
    [
      "a form body",
      post("a=b", { "content-type": "application/x-www-form-urlencoded" }),
      415,
      /not supported/,
    ],
    ["an empty body", post(""), 400, /no body/],
    ["a missing body", post(undefined), 400, /no body/],
    ["broken JSON", post("[{"), 400, /not JSON/],
    ["JSON of no known shape", post({ hello: "world" }), 400, /neither/],
    ["a batch of mixed formats", post([pushEvent, toCloudEvent(pushEvent)]), 400, /mixes formats/],
    [
      "a CloudEvents batch that is not an array",
      post(toCloudEvent(pushEvent), { "content-type": "application/cloudevents-batch+json" }),
      400,
      /must be a JSON array/,
    ],
  ])("refuses %s", (_what, request, status, message) => {
    const classification = classifyWebhookRequest(request);
    expect(classification).toMatchObject({ kind: "invalid", status });
    if (classification.kind === "invalid") expect(classification.message).toMatch(message);
    const response = webhookResponseFor(classification);
    expect(response?.status).toBe(status);
    expect(response?.jsonBody).toEqual({ error: expect.any(String) });
    if (status === 405) expect(response?.headers.Allow).toBe("OPTIONS, POST");
  });

  it("accepts JSON under a vendor +json content type and without any content type", () => {
    expect(
      classifyWebhookRequest(post([pushEvent], { "content-type": "application/vnd.custom+json" })).kind,
    ).toBe("eventgrid-events");
    expect(
      classifyWebhookRequest({ method: "POST", headers: {}, body: JSON.stringify([pushEvent]) }).kind,
    ).toBe("eventgrid-events");
  });

  it("leaves deliveries to be answered after ingestion", () => {
    expect(webhookResponseFor({ kind: "eventgrid-events", body: [] })).toBeUndefined();
  });
});

describe("verifySharedSecret", () => {
  it("accepts the right secret, whatever the header's case", () => {
    expect(verifySharedSecret({ "X-Acr-Steward-Secret": SECRET }, SECRET)).toEqual({ ok: true });
    expect(verifySharedSecret(new Headers({ "x-acr-steward-secret": SECRET }), SECRET)).toEqual({ ok: true });
  });

  it("answers 401 for a missing, repeated or wrong secret, without echoing either value", () => {
    for (const headers of [
      {},
      { "x-acr-steward-secret": "wrong" },
      { "x-acr-steward-secret": `${SECRET}x` },
      { "x-acr-steward-secret": "" },
      { "x-acr-steward-secret": [SECRET, SECRET] },
    ]) {
      const check = verifySharedSecret(headers, SECRET);
      expect(check).toMatchObject({ ok: false, status: 401 });
      if (!check.ok) {
        expect(check.message).not.toContain(SECRET);
        expect(check.message).not.toContain("wrong");
      }
    }
  });

  it("answers 403 when no secret is configured: webhooks are refused outright", () => {
    for (const configured of [undefined, ""]) {
      const check = verifySharedSecret({ "x-acr-steward-secret": "anything" }, configured);
      expect(check).toMatchObject({ ok: false, status: 403 });
      if (!check.ok) expect(webhookResponseForSecret(check).status).toBe(403);
    }
  });
});

describe("authorizeWebhookRequest", () => {
  const webhook: WebhookClassification = { kind: "acr-webhook", body: {} };
  const eventGrid: WebhookClassification = { kind: "eventgrid-events", body: [] };

  it("demands the secret from ACR webhooks", () => {
    expect(authorizeWebhookRequest(webhook, {}, { secret: SECRET })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(authorizeWebhookRequest(webhook, { "x-acr-steward-secret": SECRET }, { secret: SECRET })).toEqual({
      ok: true,
    });
    expect(
      authorizeWebhookRequest(webhook, { "x-acr-steward-secret": SECRET }, { secret: undefined }),
    ).toMatchObject({ ok: false, status: 403 });
  });

  it("lets Event Grid deliveries through on the function key, but never with a wrong secret", () => {
    expect(authorizeWebhookRequest(eventGrid, {}, { secret: SECRET })).toEqual({ ok: true });
    expect(
      authorizeWebhookRequest(eventGrid, { "x-acr-steward-secret": "nope" }, { secret: SECRET }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(
      authorizeWebhookRequest(eventGrid, {}, { secret: SECRET, requireForAllDeliveries: true }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it("never blocks the handshakes", () => {
    expect(
      authorizeWebhookRequest({ kind: "eventgrid-validation", validationCode: "x" }, {}, { secret: SECRET }),
    ).toEqual({ ok: true });
    expect(
      authorizeWebhookRequest(
        { kind: "cloudevents-handshake", allowedOrigin: "eventgrid.azure.net" },
        {},
        { secret: SECRET, requireForAllDeliveries: true },
      ),
    ).toEqual({ ok: true });
  });
});

describe("webhookResponseForParseResult", () => {
  const options = { allowedRegistries: new Set([CONTOSO]), unknownEventTypes: "skip" as const };

  it("200 with counts when nothing was rejected", () => {
    const response = webhookResponseForParseResult(parseRegistryEvents([pushEvent], options));
    expect(response).toEqual({
      status: 200,
      headers: {},
      jsonBody: { accepted: 1, skipped: 0, rejected: 0 },
    });
  });

  it("400 naming each rejected event's path when any was rejected", () => {
    const bad = structuredClone(pushEvent) as { data: { target: { digest: string } } };
    bad.data.target.digest = "sha256:short";
    const response = webhookResponseForParseResult(parseRegistryEvents([pushEvent, bad], options));
    expect(response.status).toBe(400);
    expect(response.jsonBody).toMatchObject({
      accepted: 1,
      rejected: 1,
      rejections: [{ path: "$[1].data.target.digest", eventId: "0b7c4f0e-6d2a-4a51-9a36-1f0e8d2b3c41" }],
    });
    expect((response.jsonBody as { error: string }).error).toMatch(/\$\[1\]\.data\.target\.digest/);
  });
});

describe("a thin adapter built from these pieces", () => {
  /** The flow docs/events.md recommends for the registryWebhook function, with an in-memory ingest. */
  function handle(request: WebhookRequest, ingested: unknown[]) {
    const classification = classifyWebhookRequest(request);
    if (!isWebhookDelivery(classification)) return webhookResponseFor(classification);
    const auth = authorizeWebhookRequest(classification, request.headers, { secret: SECRET });
    if (!auth.ok) return webhookResponseForSecret(auth);
    const result = parseRegistryEvents(classification.body, {
      allowedRegistries: new Set([CONTOSO]),
      unknownEventTypes: "skip",
      expectedShape: SHAPE_OF_DELIVERY[classification.kind],
      ...(classification.kind === "acr-webhook" && classification.registryHint
        ? { defaultRegistry: classification.registryHint }
        : {}),
    });
    ingested.push(...result.events);
    return webhookResponseForParseResult(result);
  }

  it("handles an Event Grid session: handshake, then a batch", () => {
    const ingested: unknown[] = [];
    const handshake = handle(
      post(fixtureText("validation/subscription_validation.json"), {
        "aeg-event-type": "SubscriptionValidation",
      }),
      ingested,
    );
    expect(handshake.status).toBe(200);
    expect(ingested).toEqual([]);
    const batch = handle(
      post(fixtureText("eventgrid/batch_mixed.json"), { "aeg-event-type": "Notification" }),
      ingested,
    );
    expect(batch).toMatchObject({ status: 200, jsonBody: { accepted: 4, skipped: 1, rejected: 0 } });
    expect(ingested).toHaveLength(4);
  });

  it("handles ACR webhooks only with the secret, and chart webhooks with ?registry=", () => {
    const ingested: unknown[] = [];
    expect(handle(post(fixtureText("webhook/push.json")), ingested).status).toBe(401);
    expect(ingested).toEqual([]);
    const withSecret = { "x-acr-steward-secret": SECRET };
    expect(handle(post(fixtureText("webhook/push.json"), withSecret), ingested).status).toBe(200);
    expect(handle(post(fixtureText("webhook/chart_push.json"), withSecret), ingested).status).toBe(400);
    expect(
      handle(post(fixtureText("webhook/chart_push.json"), withSecret, { registry: CONTOSO }), ingested)
        .status,
    ).toBe(200);
    expect(ingested).toHaveLength(2);
  });
});
