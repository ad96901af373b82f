import { createHash, timingSafeEqual } from "node:crypto";
import { detectEventShape, type EventShape, type ParseRegistryEventsResult } from "./parse.js";
import { SUBSCRIPTION_VALIDATION_EVENT_TYPE, SubscriptionValidationEventSchema } from "./schemas.js";

/**
 * Pure request handling for the `registryWebhook` HTTP function: what kind of request arrived
 * (Event Grid validation handshake, CloudEvents abuse-protection handshake, an event delivery in
 * one of three formats, or something to refuse), whether its shared secret is right, and what to
 * answer. The function adapter only moves bytes in and out.
 */

export const WEBHOOK_SECRET_HEADER = "x-acr-steward-secret";
/** The setting that holds the shared secret (see shared/config/settings.ts). */
export const WEBHOOK_SECRET_SETTING = "ACR_STEWARD_WEBHOOK_SECRET";
/** Optional query parameter naming the registry for ACR webhooks whose body names none. */
export const WEBHOOK_REGISTRY_QUERY = "registry";

export type HeaderBag = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;
export type QueryBag = URLSearchParams | Readonly<Record<string, string | undefined>>;

export interface WebhookRequest {
  readonly method: string;
  readonly headers: HeaderBag;
  /** Raw text or bytes (preferred: the adapter need not guess), or already-parsed JSON. */
  readonly body: unknown;
  readonly query?: QueryBag;
}

export type WebhookClassification =
  | {
      readonly kind: "eventgrid-validation";
      readonly validationCode: string;
      readonly validationUrl?: string;
    }
  | { readonly kind: "cloudevents-handshake"; readonly allowedOrigin: string; readonly callbackUrl?: string }
  | { readonly kind: "eventgrid-events"; readonly body: unknown }
  | { readonly kind: "cloudevents"; readonly body: unknown }
  | { readonly kind: "acr-webhook"; readonly body: unknown; readonly registryHint?: string }
  | { readonly kind: "invalid"; readonly status: 400 | 405 | 415; readonly message: string };

export type WebhookDeliveryKind = "eventgrid-events" | "cloudevents" | "acr-webhook";

/** A request that carries events to ingest. */
export type WebhookDelivery = Extract<WebhookClassification, { kind: WebhookDeliveryKind }>;

/** A request answered without ingesting anything: a handshake or a refusal. */
export type WebhookImmediate = Exclude<WebhookClassification, WebhookDelivery>;

export function isWebhookDelivery(classification: WebhookClassification): classification is WebhookDelivery {
  return (
    classification.kind === "eventgrid-events" ||
    classification.kind === "cloudevents" ||
    classification.kind === "acr-webhook"
  );
}

/** The parser shape matching a delivery classification (for `expectedShape`). */
export const SHAPE_OF_DELIVERY: Readonly<Record<WebhookDeliveryKind, EventShape>> = {
  "eventgrid-events": "eventgrid",
  cloudevents: "cloudevents",
  "acr-webhook": "acr-webhook",
};

// ---------------------------------------------------------------------------------------------
// Headers and query

function isHeadersLike(headers: HeaderBag): headers is Headers {
  return typeof (headers as { get?: unknown }).get === "function";
}

export function headerValues(headers: HeaderBag, name: string): string[] {
  const wanted = name.toLowerCase();
  // Duck-typed: @azure/functions may hand us a Headers class other than Node's global one.
  if (isHeadersLike(headers)) {
    const value = headers.get(wanted);
    return value === null ? [] : [value];
  }
  const values: string[] = [];
  for (const [key, value] of Object.entries(
    headers as Record<string, string | readonly string[] | undefined>,
  )) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    if (typeof value === "string") values.push(value);
    else values.push(...value);
  }
  return values;
}

export function headerValue(headers: HeaderBag, name: string): string | undefined {
  return headerValues(headers, name)[0];
}

function queryValue(query: QueryBag | undefined, name: string): string | undefined {
  if (query === undefined) return undefined;
  if (typeof (query as { get?: unknown }).get === "function")
    return (query as URLSearchParams).get(name) ?? undefined;
  return (query as Readonly<Record<string, string | undefined>>)[name];
}

// ---------------------------------------------------------------------------------------------
// Classification

function invalid(status: 400 | 405 | 415, message: string): WebhookClassification {
  return { kind: "invalid", status, message };
}

function mediaTypeOf(headers: HeaderBag): string | undefined {
  const value = headerValue(headers, "content-type");
  if (value === undefined) return undefined;
  const type = value.split(";")[0]?.trim().toLowerCase();
  return type === "" ? undefined : type;
}

function isJsonMediaType(type: string): boolean {
  return (
    type === "application/json" || type === "text/json" || /^application\/[a-z0-9.+-]*\+json$/.test(type)
  );
}

type DecodedBody = { ok: true; value: unknown } | { ok: false; message: string };

function decodeBody(body: unknown): DecodedBody {
  let text: string | undefined;
  if (typeof body === "string") text = body;
  else if (body instanceof Uint8Array) text = new TextDecoder("utf-8").decode(body);
  else if (body instanceof ArrayBuffer) text = new TextDecoder("utf-8").decode(new Uint8Array(body));
  if (text === undefined) {
    return body === undefined || body === null
      ? { ok: false, message: "the request has no body" }
      : { ok: true, value: body };
  }
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed === "") return { ok: false, message: "the request has no body" };
  try {
    return { ok: true, value: JSON.parse(trimmed) };
  } catch (error) {
    return {
      ok: false,
      message: `the body is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** Origins are host names; anything else (spaces, control characters) is refused before we echo it. */
const ORIGIN_PATTERN = /^[\x21-\x7e]{1,255}$/;

function classifyOptions(request: WebhookRequest): WebhookClassification {
  const origin = headerValue(request.headers, "webhook-request-origin")?.trim();
  if (origin === undefined || origin === "") {
    return invalid(
      400,
      "OPTIONS is the CloudEvents validation handshake and needs a WebHook-Request-Origin header",
    );
  }
  if (!ORIGIN_PATTERN.test(origin)) {
    return invalid(400, "the WebHook-Request-Origin header is not a host name");
  }
  const callbackUrl = headerValue(request.headers, "webhook-request-callback")?.trim();
  return {
    kind: "cloudevents-handshake",
    allowedOrigin: origin,
    ...(callbackUrl ? { callbackUrl } : {}),
  };
}

function validationFrom(body: unknown): WebhookClassification | undefined {
  const first = Array.isArray(body) ? body[0] : body;
  const parsed = SubscriptionValidationEventSchema.safeParse(first);
  if (!parsed.success) return undefined;
  const { validationCode, validationUrl } = parsed.data.data;
  return { kind: "eventgrid-validation", validationCode, ...(validationUrl ? { validationUrl } : {}) };
}

function looksLikeValidation(body: unknown): boolean {
  const first = Array.isArray(body) ? body[0] : body;
  return (
    typeof first === "object" &&
    first !== null &&
    (first as Record<string, unknown>).eventType === SUBSCRIPTION_VALIDATION_EVENT_TYPE
  );
}

/** Binary-mode CloudEvents: attributes in `ce-*` headers, the body is the data. */
function binaryCloudEvent(request: WebhookRequest, data: unknown): Record<string, unknown> {
  const attribute = (name: string) => headerValue(request.headers, `ce-${name}`);
  const event: Record<string, unknown> = {
    specversion: attribute("specversion"),
    type: attribute("type"),
    source: attribute("source"),
    id: attribute("id"),
    data,
  };
  for (const optional of ["time", "subject", "dataschema"]) {
    const value = attribute(optional);
    if (value !== undefined) event[optional] = value;
  }
  const contentType = headerValue(request.headers, "content-type");
  if (contentType !== undefined) event.datacontenttype = contentType;
  return event;
}

function classifyByShape(body: unknown, registryHint: string | undefined): WebhookClassification {
  const items = Array.isArray(body) ? body : [body];
  const shapes = new Set(items.map(detectEventShape).filter((shape) => shape !== undefined));
  if (items.length === 0) return { kind: "eventgrid-events", body };
  if (shapes.size === 0) {
    return invalid(
      400,
      "the body is neither Event Grid events (eventType), CloudEvents (specversion) nor an ACR webhook body (action and target)",
    );
  }
  if (shapes.size > 1) return invalid(400, `the batch mixes formats (${[...shapes].join(", ")})`);
  const [shape] = shapes;
  switch (shape) {
    case "eventgrid":
      return { kind: "eventgrid-events", body };
    case "cloudevents":
      return { kind: "cloudevents", body };
    default:
      return { kind: "acr-webhook", body, ...(registryHint ? { registryHint } : {}) };
  }
}

/**
 * Decides what a request to the webhook endpoint is. Pure: no I/O, no secrets (see
 * `authorizeWebhookRequest` for those).
 *
 * - `OPTIONS` + `WebHook-Request-Origin`: CloudEvents handshake (answer `WebHook-Allowed-Origin`).
 * - `POST` + `aeg-event-type: SubscriptionValidation`: Event Grid handshake (answer the code).
 * - `POST` with `ce-specversion` headers: a binary-mode CloudEvent, rebuilt in structured form.
 * - `POST` otherwise: the body's format decides (Event Grid array, CloudEvents, ACR webhook).
 */
export function classifyWebhookRequest(request: WebhookRequest): WebhookClassification {
  const method = request.method.toUpperCase();
  if (method === "OPTIONS") return classifyOptions(request);
  if (method !== "POST") return invalid(405, `method ${method} is not allowed; deliveries use POST`);

  const binaryMode = headerValue(request.headers, "ce-specversion") !== undefined;
  const mediaType = mediaTypeOf(request.headers);
  if (mediaType !== undefined && !isJsonMediaType(mediaType) && !binaryMode) {
    return invalid(415, `content type ${mediaType} is not supported; send JSON`);
  }
  const decoded = decodeBody(request.body);
  if (!decoded.ok) return invalid(400, decoded.message);
  const body = decoded.value;

  const eventGridType = headerValue(request.headers, "aeg-event-type")?.toLowerCase();
  if (eventGridType === "subscriptionvalidation") {
    return (
      validationFrom(body) ??
      invalid(
        400,
        "aeg-event-type is SubscriptionValidation but the body holds no valid SubscriptionValidationEvent",
      )
    );
  }
  if (eventGridType === undefined && looksLikeValidation(body)) {
    return validationFrom(body) ?? invalid(400, "the SubscriptionValidationEvent has no validationCode");
  }
  if (binaryMode) return { kind: "cloudevents", body: binaryCloudEvent(request, body) };
  if (mediaType === "application/cloudevents-batch+json" && !Array.isArray(body)) {
    return invalid(400, "a CloudEvents batch (application/cloudevents-batch+json) must be a JSON array");
  }
  const registryHint = queryValue(request.query, WEBHOOK_REGISTRY_QUERY)?.trim();
  return classifyByShape(body, registryHint || undefined);
}

// ---------------------------------------------------------------------------------------------
// Shared secret

export type SecretCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: 401 | 403; readonly message: string };

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Checks the `X-Acr-Steward-Secret` header in constant time (both sides are hashed first so the
 * comparison never depends on, or reveals, the secret's length).
 *
 * - no secret configured: 403, webhooks are refused outright (no credential could help);
 * - header missing, repeated or wrong: 401, the caller's credential is missing or rejected.
 * Messages never contain either value.
 */
export function verifySharedSecret(headers: HeaderBag, expectedSecret: string | undefined): SecretCheck {
  if (expectedSecret === undefined || expectedSecret === "") {
    return {
      ok: false,
      status: 403,
      message: `ACR webhooks are refused: ${WEBHOOK_SECRET_SETTING} is not set`,
    };
  }
  const provided = headerValues(headers, WEBHOOK_SECRET_HEADER);
  if (provided.length === 0) {
    return { ok: false, status: 401, message: `the ${WEBHOOK_SECRET_HEADER} header is missing` };
  }
  const [value] = provided;
  if (provided.length > 1 || value === undefined) {
    return { ok: false, status: 401, message: `the ${WEBHOOK_SECRET_HEADER} header appears more than once` };
  }
  if (!timingSafeEqual(digest(value), digest(expectedSecret))) {
    return { ok: false, status: 401, message: `the ${WEBHOOK_SECRET_HEADER} header does not match` };
  }
  return { ok: true };
}

export interface WebhookAuthorizationOptions {
  readonly secret: string | undefined;
  /**
   * Also demand the secret on Event Grid / CloudEvents deliveries (configure it as a static
   * delivery header on the subscription). Otherwise those rely on the function key, and a secret
   * header they do send must still be right.
   */
  readonly requireForAllDeliveries?: boolean;
}

/** Whether a classified request may proceed. Handshakes and refusals need no secret. */
export function authorizeWebhookRequest(
  classification: WebhookClassification,
  headers: HeaderBag,
  options: WebhookAuthorizationOptions,
): SecretCheck {
  switch (classification.kind) {
    case "acr-webhook":
      return verifySharedSecret(headers, options.secret);
    case "eventgrid-events":
    case "cloudevents": {
      const sent = headerValues(headers, WEBHOOK_SECRET_HEADER).length > 0;
      if (options.requireForAllDeliveries || (sent && options.secret))
        return verifySharedSecret(headers, options.secret);
      return { ok: true };
    }
    default:
      return { ok: true };
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface WebhookResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly jsonBody?: unknown;
}

const ALLOWED_METHODS = "OPTIONS, POST";

/**
 * The answer for requests that end at classification (handshakes, refusals); `undefined` for
 * deliveries, which are answered with `webhookResponseForParseResult` after ingestion.
 */
export function webhookResponseFor(classification: WebhookImmediate): WebhookResponse;
export function webhookResponseFor(classification: WebhookClassification): WebhookResponse | undefined;
export function webhookResponseFor(classification: WebhookClassification): WebhookResponse | undefined {
  switch (classification.kind) {
    case "eventgrid-validation":
      // Event Grid accepts only 200 here (202 fails the handshake).
      return { status: 200, headers: {}, jsonBody: { validationResponse: classification.validationCode } };
    case "cloudevents-handshake":
      return {
        status: 200,
        headers: {
          "WebHook-Allowed-Origin": classification.allowedOrigin,
          "WebHook-Allowed-Rate": "*",
          Allow: ALLOWED_METHODS,
        },
      };
    case "invalid":
      return {
        status: classification.status,
        headers: classification.status === 405 ? { Allow: ALLOWED_METHODS } : {},
        jsonBody: { error: classification.message },
      };
    default:
      return undefined;
  }
}

/** The answer for a refused secret. */
export function webhookResponseForSecret(check: Extract<SecretCheck, { ok: false }>): WebhookResponse {
  return { status: check.status, headers: {}, jsonBody: { error: check.message } };
}

const MAX_LISTED_REJECTIONS = 20;

/**
 * After the valid events were ingested: 200 when nothing was rejected, else 400 listing each
 * rejected event's path and reason. Event Grid does not retry a 400 and dead-letters the
 * delivery, so rejected events stay inspectable (re-ingesting the valid ones later is harmless:
 * ingestion is idempotent).
 */
export function webhookResponseForParseResult(result: ParseRegistryEventsResult): WebhookResponse {
  const summary = {
    accepted: result.events.length,
    skipped: result.skipped.length,
    rejected: result.rejected.length,
  };
  if (result.rejected.length === 0) return { status: 200, headers: {}, jsonBody: summary };
  const [first] = result.rejected;
  return {
    status: 400,
    headers: {},
    jsonBody: {
      error: `${result.rejected.length} event(s) rejected; first: ${first?.path}: ${first?.message}`,
      ...summary,
      rejections: result.rejected.slice(0, MAX_LISTED_REJECTIONS).map((rejection) => ({
        path: rejection.path,
        message: rejection.message,
        ...(rejection.eventId !== undefined ? { eventId: rejection.eventId } : {}),
      })),
    },
  };
}
