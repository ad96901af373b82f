import type { RegistryNotifications } from "./notifications.js";

export interface EventDeliveryOptions {
  /** Event Grid style subscriber endpoint (validation handshake, then batches of events). */
  readonly eventsUrl?: string;
  readonly eventsSchema?: "eventgrid" | "cloudevents";
  /** ACR native webhook endpoint (bare JSON body per event). */
  readonly webhookUrl?: string;
  /** Extra headers for webhook posts (ACR lets users configure custom headers). */
  readonly webhookHeaders?: Readonly<Record<string, string>>;
  /** CA certificate(s) to trust when the subscriber serves HTTPS with a private CA. */
  readonly ca?: string;
}

export interface EventDelivery {
  /** Resolves when every queued delivery has succeeded or exhausted its retries. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Placeholder until event delivery lands: fails loudly rather than silently dropping events. */
export function startEventDelivery(
  _notifications: RegistryNotifications,
  _options: EventDeliveryOptions,
): EventDelivery {
  throw new Error("event delivery is not implemented yet");
}
