import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema, TagSchema } from "../oci/reference.js";
import type { RegistryEventKind } from "./registryEvent.js";
import { normalizeTimestamp } from "./timestamps.js";

/**
 * The shapes ACR events arrive in, as zod schemas (the source of truth; @azure/eventgrid's
 * `ContainerRegistry*EventData` interfaces are checked against them in the tests). Objects are
 * loose: Event Grid and ACR add fields over time and dead-letter blobs add delivery metadata, so
 * unknown fields are kept, never refused. Strict where a wrong value would do damage: event ids,
 * repository, tag and digest (OCI grammar), the registry host, sizes and timestamps.
 */

// ---------------------------------------------------------------------------------------------
// Event types

export const ACR_EVENT_TYPES = {
  imagePushed: "Microsoft.ContainerRegistry.ImagePushed",
  imageDeleted: "Microsoft.ContainerRegistry.ImageDeleted",
  chartPushed: "Microsoft.ContainerRegistry.ChartPushed",
  chartDeleted: "Microsoft.ContainerRegistry.ChartDeleted",
} as const;

export type AcrEventType = (typeof ACR_EVENT_TYPES)[keyof typeof ACR_EVENT_TYPES];

export const SUBSCRIPTION_VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent";

/** `data.action` values (also the whole vocabulary of ACR native webhooks). */
export const AcrActionSchema = z.enum(["push", "delete", "chart_push", "chart_delete", "quarantine"]);
export type AcrAction = z.infer<typeof AcrActionSchema>;

export interface AcrEventTypeInfo {
  readonly eventType: AcrEventType;
  readonly action: Exclude<AcrAction, "quarantine">;
  readonly kind: RegistryEventKind;
  readonly artifact: "image" | "chart";
}

export const ACR_EVENT_TYPE_INFO: readonly AcrEventTypeInfo[] = [
  { eventType: ACR_EVENT_TYPES.imagePushed, action: "push", kind: "push", artifact: "image" },
  { eventType: ACR_EVENT_TYPES.imageDeleted, action: "delete", kind: "delete", artifact: "image" },
  { eventType: ACR_EVENT_TYPES.chartPushed, action: "chart_push", kind: "chartPush", artifact: "chart" },
  { eventType: ACR_EVENT_TYPES.chartDeleted, action: "chart_delete", kind: "chartDelete", artifact: "chart" },
];

const ACR_EVENT_TYPE_PREFIX = "Microsoft.ContainerRegistry.";

/**
 * Finds what an Event Grid `eventType` / CloudEvents `type` means. The 2018 documentation printed
 * the types without their namespace (`ImagePushed`); those bare names are accepted as the same
 * types because the data payload is validated against the ACR schema anyway (and its `action`
 * must agree), so nothing else can be mistaken for an ACR event.
 */
export function acrEventTypeInfo(eventType: string): AcrEventTypeInfo | undefined {
  const qualified = eventType.includes(".") ? eventType : `${ACR_EVENT_TYPE_PREFIX}${eventType}`;
  return ACR_EVENT_TYPE_INFO.find((info) => info.eventType === qualified);
}

export function acrEventTypeInfoForAction(action: string): AcrEventTypeInfo | undefined {
  return ACR_EVENT_TYPE_INFO.find((info) => info.action === action);
}

// ---------------------------------------------------------------------------------------------
// Field building blocks

/** Treats `null` and `""` as absent: serializers on the service side emit either for "none". */
function absentIfEmpty<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null || value === "" ? undefined : value), schema.optional());
}

const OptionalTextSchema = absentIfEmpty(z.string());

export const EventIdSchema = z
  .string()
  .min(1, "an event id must not be empty")
  .max(1024, "an event id has at most 1024 characters");

/** A timestamp with an offset, normalized to UTC with nine fractional digits (see timestamps.ts). */
export const EventTimestampSchema = z.string().transform((value, context) => {
  const result = normalizeTimestamp(value);
  if (result.ok) return result.value;
  context.addIssue({ code: "custom", message: `not a usable timestamp: ${result.reason}`, input: value });
  return z.NEVER;
});

const ByteCountSchema = z
  .number()
  .int("a size is a whole number of bytes")
  .nonnegative("a size cannot be negative")
  .max(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------------------------------------
// ACR payload (Event Grid / CloudEvents `data`, or the whole ACR webhook body)

export const AcrEventRequestSchema = z.looseObject({
  id: OptionalTextSchema,
  addr: OptionalTextSchema,
  /** The Host header the client used: the login server. Still checked against the allow-list. */
  host: absentIfEmpty(LoginServerSchema),
  method: OptionalTextSchema,
  useragent: OptionalTextSchema,
});

export const AcrEventActorSchema = z.looseObject({ name: OptionalTextSchema });
export const AcrEventSourceSchema = z.looseObject({
  addr: OptionalTextSchema,
  instanceID: OptionalTextSchema,
});
export const AcrConnectedRegistrySchema = z.looseObject({ name: OptionalTextSchema });

export const AcrImageTargetSchema = z.looseObject({
  mediaType: z.string().min(1, "a media type must not be empty"),
  /** Absent on deletes. */
  size: absentIfEmpty(ByteCountSchema),
  digest: DigestSchema,
  /** Same as size (ACR sends both). */
  length: absentIfEmpty(ByteCountSchema),
  repository: RepositoryNameSchema,
  /** Absent on deletes and on pushes by digest. */
  tag: absentIfEmpty(TagSchema),
  url: OptionalTextSchema,
});

export const AcrChartTargetSchema = z.looseObject({
  mediaType: z.string().min(1, "a media type must not be empty"),
  size: absentIfEmpty(ByteCountSchema),
  digest: DigestSchema,
  repository: RepositoryNameSchema,
  /** The chart file name, e.g. `mychart-1.0.0.tgz`. */
  tag: absentIfEmpty(TagSchema),
  name: OptionalTextSchema,
  version: OptionalTextSchema,
});

/** Quarantine notifications (ACR webhooks only) have neither `mediaType` nor `useragent`. */
export const AcrQuarantineTargetSchema = z.looseObject({
  mediaType: OptionalTextSchema,
  size: absentIfEmpty(ByteCountSchema),
  digest: DigestSchema,
  length: absentIfEmpty(ByteCountSchema),
  repository: RepositoryNameSchema,
  tag: absentIfEmpty(TagSchema),
});

function actionSchema<A extends AcrAction>(action: A) {
  return z.literal(action, { error: `the action must be "${action}" for this event type` });
}

const commonDataFields = {
  id: EventIdSchema,
  /** Absent timestamps fall back to the envelope's time (see parse.ts). */
  timestamp: absentIfEmpty(EventTimestampSchema),
  location: OptionalTextSchema,
  actor: AcrEventActorSchema.nullish(),
  source: AcrEventSourceSchema.nullish(),
  connectedRegistry: AcrConnectedRegistrySchema.nullish(),
};

function imageDataSchema<A extends "push" | "delete">(action: A) {
  return z.looseObject({
    ...commonDataFields,
    action: actionSchema(action),
    target: AcrImageTargetSchema,
    request: AcrEventRequestSchema.nullish(),
  });
}

function chartDataSchema<A extends "chart_push" | "chart_delete">(action: A) {
  return z.looseObject({
    ...commonDataFields,
    action: actionSchema(action),
    target: AcrChartTargetSchema,
    // Chart events carry no request block today; accept one if it ever appears.
    request: AcrEventRequestSchema.nullish(),
  });
}

export const AcrImagePushedDataSchema = imageDataSchema("push");
export const AcrImageDeletedDataSchema = imageDataSchema("delete");
export const AcrChartPushedDataSchema = chartDataSchema("chart_push");
export const AcrChartDeletedDataSchema = chartDataSchema("chart_delete");
export const AcrQuarantineDataSchema = z.looseObject({
  ...commonDataFields,
  action: actionSchema("quarantine"),
  target: AcrQuarantineTargetSchema,
  request: AcrEventRequestSchema.nullish(),
});

export const ACR_DATA_SCHEMAS = {
  push: AcrImagePushedDataSchema,
  delete: AcrImageDeletedDataSchema,
  chart_push: AcrChartPushedDataSchema,
  chart_delete: AcrChartDeletedDataSchema,
} as const;

export type AcrImagePushedData = z.infer<typeof AcrImagePushedDataSchema>;
export type AcrImageDeletedData = z.infer<typeof AcrImageDeletedDataSchema>;
export type AcrChartPushedData = z.infer<typeof AcrChartPushedDataSchema>;
export type AcrChartDeletedData = z.infer<typeof AcrChartDeletedDataSchema>;
export type AcrQuarantineData = z.infer<typeof AcrQuarantineDataSchema>;
export type AcrEventData =
  | AcrImagePushedData
  | AcrImageDeletedData
  | AcrChartPushedData
  | AcrChartDeletedData;

/**
 * An ACR native webhook body: a bare object (no envelope, no array), the same payload as Event
 * Grid's `data` without `location`/`connectedRegistry`, plus the `quarantine` action.
 */
export const AcrWebhookBodySchema = z.discriminatedUnion("action", [
  AcrImagePushedDataSchema,
  AcrImageDeletedDataSchema,
  AcrChartPushedDataSchema,
  AcrChartDeletedDataSchema,
  AcrQuarantineDataSchema,
]);
export type AcrWebhookBody = z.infer<typeof AcrWebhookBodySchema>;

/** What the parser reads first from a webhook body to pick the payload schema. */
export const AcrWebhookHeadSchema = z.looseObject({
  id: EventIdSchema,
  action: z.string().min(1, "an action must not be empty"),
});

// ---------------------------------------------------------------------------------------------
// Envelopes

/**
 * Envelope times are read only as a fallback, so they are kept as text and checked when used.
 * Events that went through @azure/eventgrid's deserializer carry a Date here instead (an invalid
 * one for a malformed original): accept that too.
 */
const EnvelopeTimeSchema = z
  .union([
    z.string(),
    z.instanceof(Date).transform((date) => (Number.isNaN(date.getTime()) ? undefined : date.toISOString())),
  ])
  .nullish();

/**
 * The Event Grid schema envelope. Lenient on what we do not use (`topic`, `subject`,
 * `dataVersion` and `eventTime` may be missing or odd: documentation samples omit them or carry
 * a broken `eventTime`), strict on the id and type. `metadataVersion`, when present, must be "1".
 * Dead-letter blobs add `deadLetterReason`, `deliveryAttempts`, `lastDeliveryOutcome`,
 * `publishTime`, ...: kept as unknown fields.
 */
export const EventGridEnvelopeSchema = z.looseObject({
  id: EventIdSchema,
  topic: OptionalTextSchema,
  subject: z.string().nullish(),
  eventType: z.string().min(1, "an event type must not be empty"),
  eventTime: EnvelopeTimeSchema,
  data: z.unknown().optional(),
  dataVersion: z.string().nullish(),
  metadataVersion: z.literal("1", { error: 'metadataVersion must be "1"' }).nullish(),
});
export type EventGridEnvelope = z.infer<typeof EventGridEnvelopeSchema>;

/** The CloudEvents 1.0 structured-mode envelope (JSON format). */
export const CloudEventEnvelopeSchema = z.looseObject({
  specversion: z.literal("1.0", { error: 'specversion must be "1.0"' }),
  type: z.string().min(1, "a CloudEvents type must not be empty"),
  source: z.string().min(1, "a CloudEvents source must not be empty"),
  id: EventIdSchema,
  time: EnvelopeTimeSchema,
  subject: z.string().nullish(),
  datacontenttype: z.string().nullish(),
  dataschema: z.string().nullish(),
  data: z.unknown().optional(),
  data_base64: z.string().nullish(),
});
export type CloudEventEnvelope = z.infer<typeof CloudEventEnvelopeSchema>;

/** A typed Event Grid event for one data schema (for callers who want the whole event typed). */
export function eventGridEventSchema<D extends z.ZodType>(data: D) {
  return EventGridEnvelopeSchema.extend({ data });
}

/** A typed CloudEvent for one data schema. */
export function cloudEventSchema<D extends z.ZodType>(data: D) {
  return CloudEventEnvelopeSchema.extend({ data });
}

export const AcrImagePushedEventGridEventSchema = eventGridEventSchema(AcrImagePushedDataSchema);
export const AcrImageDeletedEventGridEventSchema = eventGridEventSchema(AcrImageDeletedDataSchema);
export const AcrChartPushedEventGridEventSchema = eventGridEventSchema(AcrChartPushedDataSchema);
export const AcrChartDeletedEventGridEventSchema = eventGridEventSchema(AcrChartDeletedDataSchema);
export const AcrImagePushedCloudEventSchema = cloudEventSchema(AcrImagePushedDataSchema);
export const AcrImageDeletedCloudEventSchema = cloudEventSchema(AcrImageDeletedDataSchema);
export const AcrChartPushedCloudEventSchema = cloudEventSchema(AcrChartPushedDataSchema);
export const AcrChartDeletedCloudEventSchema = cloudEventSchema(AcrChartDeletedDataSchema);

// ---------------------------------------------------------------------------------------------
// Event Grid subscription validation

export const SubscriptionValidationDataSchema = z.looseObject({
  validationCode: z.string().min(1, "the validation code must not be empty"),
  validationUrl: OptionalTextSchema,
});

export const SubscriptionValidationEventSchema = EventGridEnvelopeSchema.extend({
  eventType: z.literal(SUBSCRIPTION_VALIDATION_EVENT_TYPE),
  data: SubscriptionValidationDataSchema,
});
export type SubscriptionValidationEvent = z.infer<typeof SubscriptionValidationEventSchema>;

/** What the endpoint answers (HTTP 200) to complete the handshake. */
export const SubscriptionValidationResponseSchema = z.strictObject({ validationResponse: z.string().min(1) });
export type SubscriptionValidationResponse = z.infer<typeof SubscriptionValidationResponseSchema>;
