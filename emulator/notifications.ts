import { EventEmitter } from "node:events";

/**
 * What the emulator's registry core announces when a manifest is pushed or deleted. The event
 * delivery (emulator/eventDelivery.ts) turns these into ACR Event Grid / CloudEvents / webhook bodies.
 */
export interface ManifestNotification {
  /** Unique id of this notification (becomes the event id). */
  readonly id: string;
  readonly action: "push" | "delete";
  /** ISO 8601 time of the change. */
  readonly timestamp: string;
  /** Login server as clients see it, e.g. 127.0.0.1:8443. */
  readonly loginServer: string;
  readonly repository: string;
  readonly digest: string;
  /** The tag pushed with the manifest (push by tag only). */
  readonly tag?: string;
  readonly mediaType: string;
  /** Size of the manifest body in bytes (absent on delete, like ACR). */
  readonly size?: number;
  readonly actor?: string;
  readonly userAgent?: string;
  readonly requestId: string;
  readonly requestMethod: string;
  readonly remoteAddress?: string;
}

export interface RegistryNotificationEvents {
  manifest: [ManifestNotification];
}

export class RegistryNotifications extends EventEmitter<RegistryNotificationEvents> {}
