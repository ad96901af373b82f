import { randomUUID } from "node:crypto";
import { defaultTopic, type EventOrigin } from "./events/payloads.js";
import { cloudEventsProtocol, eventGridProtocol, webhookProtocol } from "./events/protocols.js";
import { type RetryPolicy, resolveRetryPolicy } from "./events/retryPolicy.js";
import { type DeliveryLogEntry, Subscription, type SubscriptionStats } from "./events/subscription.js";
import { ValidationListener } from "./events/validationListener.js";
import type { ManifestNotification, RegistryNotifications } from "./notifications.js";

export type { RetryPolicy } from "./events/retryPolicy.js";
export type { DeliveryLogEntry, SubscriptionStats } from "./events/subscription.js";

export interface EventDeliveryOptions {
  /** Event Grid style subscriber endpoint (validation handshake, then batches of events). */
  readonly eventsUrl?: string;
  readonly eventsSchema?: "eventgrid" | "cloudevents";
  /** ACR native webhook endpoint (bare JSON body per event). */
  readonly webhookUrl?: string;
  /** Extra headers for webhook posts (ACR lets users configure custom headers). */
  readonly webhookHeaders?: Readonly<Record<string, string>>;
  /**
   * Static headers on every request to `eventsUrl` (Event Grid's custom delivery properties, e.g. a
   * shared secret). Sent on the handshake too, so a subscriber that checks them first still validates.
   */
  readonly eventsHeaders?: Readonly<Record<string, string>>;
  /** CA certificate(s) to trust when the subscriber serves HTTPS with a private CA. */
  readonly ca?: string;
  /** Event Grid `topic` / CloudEvents `source`: the registry's ARM id. Default: a fake one named `emulator`. */
  readonly topic?: string;
  /** `data.location` of each event. Default `local`. */
  readonly location?: string;
  /** Retries after a failed delivery or an unreachable handshake. Default: 6 attempts within ~10 s. */
  readonly retry?: Partial<RetryPolicy>;
  /** Per request. Default 30 s (Event Grid's handshake limit). */
  readonly requestTimeoutMs?: number;
  /** Requests in flight per subscriber; above 1, delivery order is not guaranteed (nor is it on Event Grid). Default 4. */
  readonly concurrency?: number;
  /** Event Grid schema only: events per POSTed array. Default 1, Event Grid's default. */
  readonly maxEventsPerBatch?: number;
  /** Event Grid schema only: wait this long for a GET of validationUrl after a 200 without a code. Default 30 s. */
  readonly manualValidationTimeoutMs?: number;
  /** CloudEvents only: `WebHook-Request-Origin` of the handshake. Default `eventgrid.azure.net`. */
  readonly requestOrigin?: string;
  /** Where failures and handshakes are reported. Default: one JSON line per entry on stderr. */
  readonly log?: (entry: DeliveryLogEntry) => void;
}

export interface EventDelivery {
  /** Resolves when every queued delivery has succeeded or exhausted its retries. */
  drain(): Promise<void>;
  close(): Promise<void>;
  /** Per subscriber: handshake state and counts of delivered, dropped and pending events. */
  stats(): SubscriptionStats[];
}

const DEFAULTS = {
  location: "local",
  requestTimeoutMs: 30_000,
  concurrency: 4,
  maxEventsPerBatch: 1,
  manualValidationTimeoutMs: 30_000,
  requestOrigin: "eventgrid.azure.net",
} as const;

/**
 * Subscribes to the registry's manifest notifications and delivers them to the configured
 * endpoints the way ACR does: Event Grid (or CloudEvents) after a validation handshake, and native
 * webhooks. The listener only enqueues, so a slow or broken subscriber never slows or fails a push.
 */
export function startEventDelivery(
  notifications: RegistryNotifications,
  options: EventDeliveryOptions,
): EventDelivery {
  const retry = resolveRetryPolicy(options.retry);
  const concurrency = positiveInteger(options.concurrency ?? DEFAULTS.concurrency, "concurrency");
  const maxEventsPerBatch = positiveInteger(
    options.maxEventsPerBatch ?? DEFAULTS.maxEventsPerBatch,
    "maxEventsPerBatch",
  );
  const origin: EventOrigin = {
    topic: options.topic ?? defaultTopic("emulator"),
    location: options.location ?? DEFAULTS.location,
    instanceId: randomUUID(),
  };
  const log = options.log ?? logToStderr;
  const validationListener = new ValidationListener();
  const subscriptions: Subscription[] = [];
  const common = {
    retry,
    concurrency,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    log,
  };

  if (options.eventsUrl !== undefined) {
    const url = subscriberUrl(options.eventsUrl, "eventsUrl");
    const subscriptionName = "acr-steward-emulator";
    let subscription: Subscription;
    const protocol =
      (options.eventsSchema ?? "eventgrid") === "eventgrid"
        ? eventGridProtocol({
            origin,
            subscriptionName,
            maxEventsPerBatch,
            validationListener,
            manualValidationTimeoutMs:
              options.manualValidationTimeoutMs ?? DEFAULTS.manualValidationTimeoutMs,
            sleep: (ms) => subscription.sleep(ms),
            deliveryHeaders: options.eventsHeaders ?? {},
          })
        : cloudEventsProtocol({
            origin,
            subscriptionName,
            requestOrigin: options.requestOrigin ?? DEFAULTS.requestOrigin,
            deliveryHeaders: options.eventsHeaders ?? {},
          });
    subscription = new Subscription({ url, protocol, ...common });
    subscriptions.push(subscription);
  }
  if (options.webhookUrl !== undefined) {
    const url = subscriberUrl(options.webhookUrl, "webhookUrl");
    const protocol = webhookProtocol({ origin, headers: options.webhookHeaders ?? {} });
    subscriptions.push(new Subscription({ url, protocol, ...common }));
  }

  const onManifest = (notification: ManifestNotification): void => {
    for (const subscription of subscriptions) {
      try {
        subscription.enqueue(notification);
      } catch (error) {
        // Never let delivery trouble reach the registry's request path.
        log({
          level: "error",
          message: `could not queue event: ${error instanceof Error ? error.message : String(error)}`,
          endpoint: subscription.stats().endpoint,
          subscription: subscription.stats().kind,
          eventIds: [notification.id],
        });
      }
    }
  };
  if (subscriptions.length > 0) notifications.on("manifest", onManifest);

  let closed = false;
  return {
    async drain() {
      await Promise.all(subscriptions.map((subscription) => subscription.drain()));
    },
    async close() {
      if (closed) return;
      closed = true;
      notifications.off("manifest", onManifest);
      for (const subscription of subscriptions) subscription.close();
      await validationListener.close();
    },
    stats() {
      return subscriptions.map((subscription) => subscription.stats());
    },
  };
}

function subscriberUrl(value: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new TypeError(`${option} is not a URL: ${JSON.stringify(value)}`, { cause: error });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`${option} must be an http:// or https:// URL, got ${url.protocol}`);
  }
  return url;
}

function positiveInteger(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`event delivery ${option} must be a whole number >= 1, got ${value}`);
  }
  return value;
}

function logToStderr(entry: DeliveryLogEntry): void {
  if (entry.level === "info") return;
  process.stderr.write(`${JSON.stringify({ component: "emulator-events", ...entry })}\n`);
}
