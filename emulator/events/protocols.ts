import { randomUUID } from "node:crypto";
import type { ManifestNotification } from "../notifications.js";
import type { SubscriberAnswer } from "./httpSend.js";
import {
  buildCloudEvent,
  buildEventGridEvent,
  buildSubscriptionValidationEvent,
  buildWebhookBody,
  type EventOrigin,
  SubscriptionValidationResponseSchema,
} from "./payloads.js";
import type { ValidationListener } from "./validationListener.js";

export type HandshakeOutcome =
  | { readonly kind: "validated" }
  /** The subscriber said no (or answered something else): Event Grid would not create the subscription. */
  | { readonly kind: "refused"; readonly reason: string }
  /** Could not reach the subscriber, or it failed with 5xx/429: worth trying again later. */
  | { readonly kind: "unreachable"; readonly reason: string };

export interface SubscriberRequest {
  readonly method: "POST" | "OPTIONS";
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export type SendToSubscriber = (request: SubscriberRequest) => Promise<SubscriberAnswer>;

/** How one kind of subscription talks to its endpoint. */
export interface DeliveryProtocol {
  readonly kind: "eventgrid" | "cloudevents" | "webhook";
  /** Events per request (Event Grid batches; CloudEvents structured mode and webhooks send one). */
  readonly maxEventsPerRequest: number;
  handshake(send: SendToSubscriber): Promise<HandshakeOutcome>;
  /** `deliveryCount` is 0 on the first attempt, like Event Grid's `aeg-delivery-count`. */
  request(batch: readonly ManifestNotification[], deliveryCount: number, now: Date): SubscriberRequest;
}

function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

function unreachableOrRefused(answer: SubscriberAnswer, what: string): HandshakeOutcome {
  const reason = `${what} answered HTTP ${answer.status}`;
  return isTransientStatus(answer.status) ? { kind: "unreachable", reason } : { kind: "refused", reason };
}

export interface EventGridProtocolOptions {
  readonly origin: EventOrigin;
  readonly subscriptionName: string;
  readonly maxEventsPerBatch: number;
  /** Serves validationUrl for subscribers that validate by GET instead of answering the code. */
  readonly validationListener: ValidationListener;
  /** How long to wait for that GET after a 200 without a validation code. */
  readonly manualValidationTimeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Event Grid "custom delivery properties": static headers the subscription adds to every request. */
  readonly deliveryHeaders: Readonly<Record<string, string>>;
}

/**
 * Event Grid schema: a SubscriptionValidationEvent first (`aeg-event-type: SubscriptionValidation`),
 * answered by 200 `{"validationResponse": code}` or by a GET of `validationUrl`; then arrays of
 * events with `aeg-event-type: Notification`.
 */
export function eventGridProtocol(options: EventGridProtocolOptions): DeliveryProtocol {
  const commonHeaders = {
    ...lowerCaseNames(options.deliveryHeaders),
    "content-type": "application/json; charset=utf-8",
    "aeg-subscription-name": options.subscriptionName.toUpperCase(),
    "aeg-metadata-version": "1",
  };
  return {
    kind: "eventgrid",
    maxEventsPerRequest: options.maxEventsPerBatch,
    async handshake(send) {
      const validationCode = randomUUID();
      const expected = await options.validationListener.expect(options.subscriptionName, validationCode);
      try {
        const event = buildSubscriptionValidationEvent({
          id: randomUUID(),
          topic: options.origin.topic,
          validationCode,
          validationUrl: expected.url,
          now: new Date(),
        });
        const answer = await send({
          method: "POST",
          headers: {
            ...commonHeaders,
            "aeg-event-type": "SubscriptionValidation",
            "aeg-delivery-count": "0",
            "aeg-data-version": event.dataVersion,
          },
          body: JSON.stringify([event]),
        });
        // Event Grid accepts only 200 here (not 202 or 204).
        if (answer.status !== 200) return unreachableOrRefused(answer, "subscription validation");
        const code = validationResponseOf(answer.body);
        if (code === validationCode) return { kind: "validated" };
        if (code !== undefined) {
          return {
            kind: "refused",
            reason: "subscription validation answered a different validationResponse",
          };
        }
        const seen = await Promise.race([
          expected.seen.then(() => true),
          options.sleep(options.manualValidationTimeoutMs).then(() => false),
        ]);
        return seen
          ? { kind: "validated" }
          : {
              kind: "refused",
              reason: `subscription validation: no validationResponse and no GET of validationUrl within ${options.manualValidationTimeoutMs} ms`,
            };
      } finally {
        options.validationListener.forget(validationCode);
      }
    },
    request(batch, deliveryCount, now) {
      const events = batch.map((notification) => buildEventGridEvent(notification, options.origin, now));
      return {
        method: "POST",
        headers: {
          ...commonHeaders,
          "aeg-event-type": "Notification",
          "aeg-delivery-count": String(deliveryCount),
          "aeg-data-version": events[0]?.dataVersion ?? "",
          ...(events.length === 1 && events[0] !== undefined ? { "aeg-output-event-id": events[0].id } : {}),
        },
        body: JSON.stringify(events),
      };
    },
  };
}

function validationResponseOf(body: string): string | undefined {
  try {
    const parsed = SubscriptionValidationResponseSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.validationResponse : undefined;
  } catch {
    return undefined;
  }
}

export interface CloudEventsProtocolOptions {
  readonly origin: EventOrigin;
  readonly subscriptionName: string;
  /** Sent as `WebHook-Request-Origin`; Event Grid sends `eventgrid.azure.net`. */
  readonly requestOrigin: string;
  /** Event Grid "custom delivery properties": static headers the subscription adds to every request. */
  readonly deliveryHeaders: Readonly<Record<string, string>>;
}

/**
 * CloudEvents 1.0: an OPTIONS abuse-protection handshake (`WebHook-Request-Origin` must come back
 * as `WebHook-Allowed-Origin`, or `*`), then one event per POST in structured mode
 * (`application/cloudevents+json`), as Event Grid does when batching is off.
 */
export function cloudEventsProtocol(options: CloudEventsProtocolOptions): DeliveryProtocol {
  return {
    kind: "cloudevents",
    maxEventsPerRequest: 1,
    async handshake(send) {
      const answer = await send({
        method: "OPTIONS",
        headers: { "webhook-request-origin": options.requestOrigin },
      });
      if (answer.status < 200 || answer.status > 299)
        return unreachableOrRefused(answer, "webhook validation");
      const allowed = headerValue(answer.headers["webhook-allowed-origin"]);
      if (allowed === undefined) {
        return { kind: "refused", reason: "webhook validation answer has no WebHook-Allowed-Origin header" };
      }
      const origins = allowed.split(",").map((value) => value.trim());
      return origins.includes("*") || origins.includes(options.requestOrigin)
        ? { kind: "validated" }
        : { kind: "refused", reason: `WebHook-Allowed-Origin does not allow ${options.requestOrigin}` };
    },
    request(batch, deliveryCount, now) {
      const [notification] = batch;
      if (notification === undefined || batch.length !== 1) {
        throw new RangeError("CloudEvents structured mode sends exactly one event per request");
      }
      return {
        method: "POST",
        headers: {
          ...lowerCaseNames(options.deliveryHeaders),
          "content-type": "application/cloudevents+json; charset=utf-8",
          "aeg-event-type": "Notification",
          "aeg-subscription-name": options.subscriptionName.toUpperCase(),
          "aeg-delivery-count": String(deliveryCount),
          // For CloudEvents, Event Grid puts the spec version here.
          "aeg-metadata-version": "1.0",
          "aeg-output-event-id": notification.id,
        },
        body: JSON.stringify(buildCloudEvent(notification, options.origin, now)),
      };
    },
  };
}

export interface WebhookProtocolOptions {
  readonly origin: EventOrigin;
  /** Custom headers configured on the ACR webhook (e.g. a shared secret). */
  readonly headers: Readonly<Record<string, string>>;
}

/** ACR native webhook: no handshake; one bare JSON object per POST plus the configured headers. */
export function webhookProtocol(options: WebhookProtocolOptions): DeliveryProtocol {
  // ACR sends only the custom headers configured on the webhook; they may override Content-Type.
  const headers: Record<string, string> = {
    "content-type": "application/json",
    ...lowerCaseNames(options.headers),
  };
  return {
    kind: "webhook",
    maxEventsPerRequest: 1,
    handshake: async () => ({ kind: "validated" }),
    request(batch) {
      const [notification] = batch;
      if (notification === undefined || batch.length !== 1) {
        throw new RangeError("an ACR webhook sends exactly one event per request");
      }
      return {
        method: "POST",
        headers,
        body: JSON.stringify(buildWebhookBody(notification, options.origin)),
      };
    },
  };
}

function lowerCaseNames(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}
