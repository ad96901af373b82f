import { z } from "zod";
import type { ManifestNotification } from "../notifications.js";

/**
 * The bodies ACR sends for manifest pushes and deletes, in the three forms a subscriber can ask
 * for: the Event Grid schema, CloudEvents 1.0 and the ACR native webhook. The field sets follow
 * the real payloads (shared/fixtures/events and the ACR webhook reference): pushes carry
 * size/length/tag, deletes do not; `subject` is `repo:tag` for a tagged push and `repo` otherwise.
 */

export const IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed";
export const IMAGE_DELETED = "Microsoft.ContainerRegistry.ImageDeleted";
/** The data version ACR stamps on image events today (fixtures carry "2.0"). */
export const ACR_EVENT_DATA_VERSION = "2.0";

export const AcrEventTargetSchema = z.object({
  mediaType: z.string().min(1),
  size: z.number().int().nonnegative().optional(),
  digest: z.string().min(1),
  length: z.number().int().nonnegative().optional(),
  repository: z.string().min(1),
  tag: z.string().min(1).optional(),
});

export const AcrEventRequestSchema = z.object({
  id: z.string().min(1),
  host: z.string().min(1),
  method: z.string().min(1),
  useragent: z.string(),
});

/** The `data` of an Event Grid / CloudEvents image event, and (minus `location`) the webhook body. */
export const AcrImageEventDataSchema = z.object({
  id: z.string().min(1),
  timestamp: z.iso.datetime({ offset: true }),
  action: z.enum(["push", "delete"]),
  location: z.string().min(1).optional(),
  target: AcrEventTargetSchema,
  request: AcrEventRequestSchema,
  actor: z.object({ name: z.string() }).optional(),
  source: z.object({ addr: z.string(), instanceID: z.string() }).optional(),
});

export const EventGridImageEventSchema = z.object({
  id: z.string().min(1),
  topic: z.string().min(1),
  subject: z.string().min(1),
  eventType: z.enum([IMAGE_PUSHED, IMAGE_DELETED]),
  eventTime: z.iso.datetime({ offset: true }),
  data: AcrImageEventDataSchema,
  dataVersion: z.string().min(1),
  metadataVersion: z.literal("1"),
});

export const CloudEventImageEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  subject: z.string().min(1),
  type: z.enum([IMAGE_PUSHED, IMAGE_DELETED]),
  time: z.iso.datetime({ offset: true }),
  data: AcrImageEventDataSchema,
});

export const AcrWebhookBodySchema = AcrImageEventDataSchema.omit({ location: true });

export const SubscriptionValidationEventSchema = z.object({
  id: z.string().min(1),
  topic: z.string().min(1),
  subject: z.string(),
  eventType: z.literal("Microsoft.EventGrid.SubscriptionValidationEvent"),
  eventTime: z.iso.datetime({ offset: true }),
  data: z.object({ validationCode: z.string().min(1), validationUrl: z.string().min(1) }),
  dataVersion: z.string(),
  metadataVersion: z.literal("1"),
});

/** What a subscriber answers to the synchronous Event Grid handshake. */
export const SubscriptionValidationResponseSchema = z.object({ validationResponse: z.string() });

export type AcrImageEventData = z.infer<typeof AcrImageEventDataSchema>;
export type EventGridImageEvent = z.infer<typeof EventGridImageEventSchema>;
export type CloudEventImageEvent = z.infer<typeof CloudEventImageEventSchema>;
export type AcrWebhookBody = z.infer<typeof AcrWebhookBodySchema>;
export type SubscriptionValidationEvent = z.infer<typeof SubscriptionValidationEventSchema>;

/** Where the events say they come from: the registry's Azure resource and region. */
export interface EventOrigin {
  /** ARM id of the registry, used as Event Grid `topic` and CloudEvents `source`. */
  readonly topic: string;
  /** Azure region the registry pretends to live in. */
  readonly location: string;
  /** Identifies this emulator process in `data.source.instanceID`. */
  readonly instanceId: string;
}

export function defaultTopic(registryName: string): string {
  return `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/acr-steward-emulator/providers/Microsoft.ContainerRegistry/registries/${registryName}`;
}

function subjectOf(notification: ManifestNotification): string {
  return notification.action === "push" && notification.tag !== undefined
    ? `${notification.repository}:${notification.tag}`
    : notification.repository;
}

function eventTypeOf(notification: ManifestNotification): typeof IMAGE_PUSHED | typeof IMAGE_DELETED {
  return notification.action === "push" ? IMAGE_PUSHED : IMAGE_DELETED;
}

export function buildEventData(notification: ManifestNotification, origin: EventOrigin): AcrImageEventData {
  const isPush = notification.action === "push";
  const target: AcrImageEventData["target"] = {
    mediaType: notification.mediaType,
    ...(isPush && notification.size !== undefined ? { size: notification.size } : {}),
    digest: notification.digest,
    ...(isPush && notification.size !== undefined ? { length: notification.size } : {}),
    repository: notification.repository,
    ...(isPush && notification.tag !== undefined ? { tag: notification.tag } : {}),
  };
  return {
    id: notification.id,
    timestamp: notification.timestamp,
    action: notification.action,
    location: origin.location,
    target,
    request: {
      id: notification.requestId,
      host: notification.loginServer,
      method: notification.requestMethod,
      useragent: notification.userAgent ?? "",
    },
    ...(notification.actor !== undefined ? { actor: { name: notification.actor } } : {}),
    source: { addr: notification.loginServer, instanceID: origin.instanceId },
  };
}

/** `publishedAt` is when the event reaches Event Grid: never before the registry's timestamp. */
export function buildEventGridEvent(
  notification: ManifestNotification,
  origin: EventOrigin,
  publishedAt: Date,
): EventGridImageEvent {
  return {
    id: notification.id,
    topic: origin.topic,
    subject: subjectOf(notification),
    eventType: eventTypeOf(notification),
    eventTime: laterIso(notification.timestamp, publishedAt),
    data: buildEventData(notification, origin),
    dataVersion: ACR_EVENT_DATA_VERSION,
    metadataVersion: "1",
  };
}

export function buildCloudEvent(
  notification: ManifestNotification,
  origin: EventOrigin,
  publishedAt: Date,
): CloudEventImageEvent {
  return {
    source: origin.topic,
    subject: subjectOf(notification),
    type: eventTypeOf(notification),
    time: laterIso(notification.timestamp, publishedAt),
    id: notification.id,
    data: buildEventData(notification, origin),
    specversion: "1.0",
  };
}

export function buildWebhookBody(notification: ManifestNotification, origin: EventOrigin): AcrWebhookBody {
  const { location: _location, ...body } = buildEventData(notification, origin);
  return body;
}

export function buildSubscriptionValidationEvent(options: {
  id: string;
  topic: string;
  validationCode: string;
  validationUrl: string;
  now: Date;
}): SubscriptionValidationEvent {
  return {
    id: options.id,
    topic: options.topic,
    subject: "",
    eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
    eventTime: options.now.toISOString(),
    data: { validationCode: options.validationCode, validationUrl: options.validationUrl },
    dataVersion: "1",
    metadataVersion: "1",
  };
}

function laterIso(registryTimestamp: string, publishedAt: Date): string {
  const registryMs = Date.parse(registryTimestamp);
  return Number.isNaN(registryMs) || publishedAt.getTime() >= registryMs
    ? publishedAt.toISOString()
    : registryTimestamp;
}
