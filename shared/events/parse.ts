import type { z } from "zod";
import { EventParseError, formatJsonPath, type PathSegment } from "./errors.js";
import { type RegistryEvent, RegistryEventSchema, type RegistryEventSource } from "./registryEvent.js";
import {
  ACR_DATA_SCHEMAS,
  ACR_EVENT_TYPE_INFO,
  type AcrEventData,
  type AcrEventTypeInfo,
  AcrWebhookHeadSchema,
  acrEventTypeInfo,
  acrEventTypeInfoForAction,
  CloudEventEnvelopeSchema,
  EventGridEnvelopeSchema,
  SUBSCRIPTION_VALIDATION_EVENT_TYPE,
} from "./schemas.js";
import { normalizeTimestamp } from "./timestamps.js";

/**
 * Turns whatever arrived (an Event Grid batch, CloudEvents, an ACR webhook body, a dead-letter
 * blob, a queue message) into normalized RegistryEvents. Never throws on bad input: every event
 * ends up in exactly one of `events`, `rejected` (with a JSON path and a message) or `skipped`
 * (with a reason), so one bad event never costs the others.
 */

export type EventShape = "eventgrid" | "cloudevents" | "acr-webhook";

export interface ParseRegistryEventsOptions {
  /** Login servers acr-steward may act on (ACR_STEWARD_REGISTRIES). Compared case-insensitively. */
  readonly allowedRegistries: ReadonlySet<string>;
  /** Event types other than ACR's four: drop with a reason, or reject (ACR_STEWARD_UNKNOWN_EVENTS). */
  readonly unknownEventTypes: "skip" | "reject";
  /** When the caller knows the delivery format, events of another shape are rejected. */
  readonly expectedShape?: EventShape;
  /**
   * Registry for events that name none (chart events and quarantine webhooks carry no
   * `request.host`, webhooks carry no topic). Must itself be in the allow-list.
   */
  readonly defaultRegistry?: string;
  /** Chart events are recorded as `chartPush`/`chartDelete` by default. */
  readonly charts?: "record" | "skip";
  /** With `now`, events stamped further than `maxFutureSkewMs` ahead of it are rejected. */
  readonly now?: Date;
  /** Default 1 hour. */
  readonly maxFutureSkewMs?: number;
}

export interface RejectedEvent {
  /** Position in the delivery (array index; 0 for a single object). */
  readonly index: number;
  /** 1-based line in a JSON-lines delivery. */
  readonly line?: number;
  /** JSON path of the first problem, e.g. `$[3].data.target.digest`. */
  readonly path: string;
  readonly message: string;
  readonly eventId?: string;
  readonly eventType?: string;
  readonly error: EventParseError;
}

export interface SkippedEvent {
  readonly index: number;
  readonly line?: number;
  readonly path: string;
  readonly reason: string;
  readonly eventId?: string;
  readonly eventType?: string;
}

export interface ParseRegistryEventsResult {
  readonly events: RegistryEvent[];
  readonly rejected: RejectedEvent[];
  readonly skipped: SkippedEvent[];
}

const DEFAULT_MAX_FUTURE_SKEW_MS = 60 * 60 * 1000;
const REGISTRY_RESOURCE_PATTERN = /\/providers\/Microsoft\.ContainerRegistry\/registries\/([^/]+)\/?$/i;
const HTTPS_DEFAULT_PORT_SUFFIX = ":443";
const EVENT_GRID_NAMESPACE = "Microsoft.EventGrid.";

// ---------------------------------------------------------------------------------------------
// Delivery decoding

interface DeliveryItem {
  readonly value: unknown;
  readonly path: PathSegment[];
  readonly index: number;
  readonly line?: number;
  /** Set when the item could not even be decoded (a bad JSON line). */
  readonly decodeError?: EventParseError;
}

function bytesToText(body: Uint8Array | ArrayBuffer): string {
  const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : body;
  return new TextDecoder("utf-8").decode(bytes);
}

const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Text deliveries: a JSON document, JSON lines (one event per line, as dead-letter tooling often
 * writes them) or a base64 JSON document (a raw storage-queue message).
 */
function decodeText(text: string): DeliveryItem[] {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed === "") return [failedItem([], 0, "the delivery is empty")];
  const whole = parseJson(trimmed);
  if (whole.ok) return itemsOf(whole.value);

  const lines = trimmed.split(/\r?\n/);
  if (lines.length > 1) {
    const items: DeliveryItem[] = [];
    lines.forEach((lineText, lineIndex) => {
      if (lineText.trim() === "") return;
      const index = items.length;
      const parsed = parseJson(lineText);
      items.push(
        parsed.ok
          ? { value: parsed.value, path: [index], index, line: lineIndex + 1 }
          : {
              ...failedItem([index], index, `line ${lineIndex + 1} is not JSON: ${parsed.message}`),
              line: lineIndex + 1,
            },
      );
    });
    // JSON lines hold one object per line; a broken pretty-printed document has none and is
    // reported once below rather than line by line.
    if (items.some((item) => item.decodeError === undefined && isPlainObject(item.value))) return items;
  }

  if (BASE64_PATTERN.test(trimmed) && trimmed.length % 4 === 0) {
    const decoded = parseJson(Buffer.from(trimmed, "base64").toString("utf8"));
    if (decoded.ok) return itemsOf(decoded.value);
  }
  return [failedItem([], 0, `the delivery is not JSON: ${whole.message}`)];
}

function failedItem(path: PathSegment[], index: number, message: string): DeliveryItem {
  return { value: undefined, path, index, decodeError: EventParseError.at(path, message) };
}

function itemsOf(value: unknown): DeliveryItem[] {
  if (Array.isArray(value)) return value.map((item, index) => ({ value: item, path: [index], index }));
  return [{ value, path: [], index: 0 }];
}

function decodeDelivery(body: unknown): DeliveryItem[] {
  if (typeof body === "string") return decodeText(body);
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return decodeText(bytesToText(body));
  return itemsOf(body);
}

// ---------------------------------------------------------------------------------------------
// Shape detection

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Which format an event object is in, judged by the attributes each format requires. */
export function detectEventShape(value: unknown): EventShape | undefined {
  if (!isPlainObject(value)) return undefined;
  if ("specversion" in value || "specVersion" in value) return "cloudevents";
  if ("eventType" in value || "metadataVersion" in value || "dataVersion" in value) return "eventgrid";
  if ("action" in value && "target" in value) return "acr-webhook";
  // A webhook ping may carry no target: it is about the endpoint, not an artifact.
  if (value.action === "ping") return "acr-webhook";
  return undefined;
}

const SHAPE_NAMES: Record<EventShape, string> = {
  eventgrid: "an Event Grid event",
  cloudevents: "a CloudEvent",
  "acr-webhook": "an ACR webhook body",
};

// ---------------------------------------------------------------------------------------------
// Registry resolution: the login server always comes from the allow-list.

function firstLabel(server: string): string {
  return server.split(/[.:]/)[0] ?? "";
}

class AllowList {
  private readonly byLowerCase = new Map<string, string>();
  constructor(entries: Iterable<string>) {
    for (const entry of entries) {
      const normalized = entry.trim().toLowerCase();
      if (normalized !== "") this.byLowerCase.set(normalized, normalized);
    }
  }

  /** The allowed login server for a host as the client sent it (`:443` is the https default). */
  matchHost(host: string): string | undefined {
    const lower = host.toLowerCase();
    return (
      this.byLowerCase.get(lower) ??
      (lower.endsWith(HTTPS_DEFAULT_PORT_SUFFIX)
        ? this.byLowerCase.get(lower.slice(0, -HTTPS_DEFAULT_PORT_SUFFIX.length))
        : undefined)
    );
  }

  /** Allowed login servers whose first DNS label is the registry's resource name. */
  matchRegistryName(name: string): string[] {
    const lower = name.toLowerCase();
    return [...this.byLowerCase.values()].filter((server) => firstLabel(server) === lower);
  }

  describe(): string {
    const all = [...this.byLowerCase.values()];
    if (all.length === 0) return "the allow-list is empty (set ACR_STEWARD_REGISTRIES)";
    const shown = all.slice(0, 5).join(", ");
    return `allowed: ${shown}${all.length > 5 ? `, … (${all.length} in all)` : ""}`;
  }
}

interface ResourceReference {
  readonly value: string | null | undefined;
  readonly path: PathSegment[];
}

function resolveRegistry(
  data: AcrEventData,
  dataPath: PathSegment[],
  resource: ResourceReference | undefined,
  allowList: AllowList,
  defaultRegistry: string | undefined,
): string | EventParseError {
  const host = data.request?.host;
  if (host !== undefined) {
    const allowed = allowList.matchHost(host);
    if (allowed !== undefined) return allowed;
    return EventParseError.at(
      [...dataPath, "request", "host"],
      `registry "${host}" is not in the allow-list (${allowList.describe()}); acr-steward never acts on other registries`,
    );
  }
  const registryName = resource?.value ? REGISTRY_RESOURCE_PATTERN.exec(resource.value)?.[1] : undefined;
  if (resource !== undefined && registryName !== undefined) {
    const matches = allowList.matchRegistryName(registryName);
    if (matches.length === 1 && matches[0] !== undefined) return matches[0];
    if (matches.length > 1) {
      return EventParseError.at(
        resource.path,
        `the event names no login server and registry "${registryName}" matches several allowed login servers (${matches.join(", ")})`,
      );
    }
    // The resource id names a registry: a default may stand in only if it can be that registry,
    // i.e. its login server is the name plus ACR's "-<hash>" domain-name-label suffix.
    const fallback = defaultRegistry === undefined ? undefined : allowList.matchHost(defaultRegistry);
    if (fallback !== undefined && firstLabel(fallback).startsWith(`${registryName.toLowerCase()}-`))
      return fallback;
    return EventParseError.at(
      resource.path,
      `the event names no login server (no request.host) and registry "${registryName}" matches no allowed login server (${allowList.describe()})`,
    );
  }
  if (defaultRegistry !== undefined) {
    const allowed = allowList.matchHost(defaultRegistry);
    if (allowed !== undefined) return allowed;
    return EventParseError.at(
      [...dataPath, "request", "host"],
      `the event names no login server and the default registry "${defaultRegistry}" is not in the allow-list (${allowList.describe()})`,
    );
  }
  return EventParseError.at(
    [...dataPath, "request", "host"],
    "the event names no registry (no request.host, no registry resource id); configure a default registry for this source",
  );
}

// ---------------------------------------------------------------------------------------------
// Per-event normalization

interface EventContext {
  readonly root: PathSegment[];
  readonly dataPath: PathSegment[];
  readonly source: RegistryEventSource;
  readonly id: string;
  readonly eventType: string | undefined;
  readonly resource?: ResourceReference;
  /** The envelope's time (`eventTime`/`time`), used only when `data.timestamp` is absent. */
  readonly fallbackTime?: ResourceReference;
}

type Outcome =
  | { readonly kind: "event"; readonly event: RegistryEvent }
  | {
      readonly kind: "rejected";
      readonly error: EventParseError;
      readonly eventId?: string;
      readonly eventType?: string;
    }
  | {
      readonly kind: "skipped";
      readonly reason: string;
      readonly eventId?: string;
      readonly eventType?: string;
    };

function rejected(
  error: EventParseError,
  context?: { id?: string; eventType?: string | undefined },
): Outcome {
  return { kind: "rejected", error, eventId: context?.id, eventType: context?.eventType };
}

function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  path: PathSegment[],
): { ok: true; value: z.infer<S> } | { ok: false; error: EventParseError } {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: EventParseError.fromZod(result.error, path) };
}

function occurredAtOf(data: AcrEventData, context: EventContext): string | EventParseError {
  if (data.timestamp !== undefined) return data.timestamp;
  const fallback = context.fallbackTime;
  if (fallback?.value) {
    const normalized = normalizeTimestamp(fallback.value);
    if (normalized.ok) return normalized.value;
    return EventParseError.at(fallback.path, `not a usable timestamp: ${normalized.reason}`);
  }
  return EventParseError.at([...context.dataPath, "timestamp"], "is required (the event carries no time)");
}

function unknownTypeOutcome(
  eventType: string,
  context: { id: string; root: PathSegment[]; typePath: PathSegment[] },
  options: ParseRegistryEventsOptions,
): Outcome {
  if (eventType === SUBSCRIPTION_VALIDATION_EVENT_TYPE) {
    return {
      kind: "skipped",
      reason: "subscription validation event: answered by the webhook handshake, not an inventory change",
      eventId: context.id,
      eventType,
    };
  }
  // Event Grid's own lifecycle events (e.g. SubscriptionDeletedEvent) reach every subscriber;
  // they are never registry events, so they are not "unknown" either.
  if (eventType.startsWith(EVENT_GRID_NAMESPACE)) {
    return {
      kind: "skipped",
      reason: "Event Grid lifecycle event, not a registry event",
      eventId: context.id,
      eventType,
    };
  }
  if (options.unknownEventTypes === "skip") {
    return { kind: "skipped", reason: `unknown event type "${eventType}"`, eventId: context.id, eventType };
  }
  const known = ACR_EVENT_TYPE_INFO.map((info) => info.eventType).join(", ");
  return rejected(
    EventParseError.at(context.typePath, `unknown event type "${eventType}"; acr-steward handles ${known}`),
    { id: context.id, eventType },
  );
}

function normalizeAcrEvent(
  info: AcrEventTypeInfo,
  rawData: unknown,
  context: EventContext,
  options: ParseRegistryEventsOptions,
  allowList: AllowList,
): Outcome {
  const ids = { id: context.id, eventType: context.eventType };
  if (info.artifact === "chart" && options.charts === "skip") {
    return {
      kind: "skipped",
      reason: "chart events are not recorded (charts: skip)",
      eventId: ids.id,
      eventType: ids.eventType,
    };
  }
  if (!isPlainObject(rawData)) {
    return rejected(EventParseError.at(context.dataPath, "the event has no data object"), ids);
  }
  const parsed = parseWith(ACR_DATA_SCHEMAS[info.action], rawData, context.dataPath);
  if (!parsed.ok) return rejected(parsed.error, ids);
  const data: AcrEventData = parsed.value;

  const registry = resolveRegistry(
    data,
    context.dataPath,
    context.resource,
    allowList,
    options.defaultRegistry,
  );
  if (registry instanceof EventParseError) return rejected(registry, ids);

  const occurredAt = occurredAtOf(data, context);
  if (occurredAt instanceof EventParseError) return rejected(occurredAt, ids);
  if (options.now !== undefined) {
    const limit = options.now.getTime() + (options.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS);
    if (Date.parse(occurredAt) > limit) {
      const path =
        data.timestamp !== undefined
          ? [...context.dataPath, "timestamp"]
          : (context.fallbackTime?.path ?? context.root);
      return rejected(
        EventParseError.at(
          path,
          `the event is stamped ${occurredAt}, in the future; it would outrank every later event`,
        ),
        ids,
      );
    }
  }

  const target = data.target;
  // Deletes carry no size; ACR sends `length` as a duplicate of `size` on image pushes.
  const length = typeof target.length === "number" ? target.length : undefined;
  const size = target.size ?? length ?? 0;
  const candidate: RegistryEvent = {
    id: context.id,
    kind: info.kind,
    registry,
    repository: target.repository,
    digest: target.digest,
    ...(target.tag !== undefined ? { tag: target.tag } : {}),
    mediaType: target.mediaType,
    size,
    occurredAt,
    ...(data.actor?.name !== undefined ? { actor: data.actor.name } : {}),
    ...(data.request?.useragent !== undefined ? { userAgent: data.request.useragent } : {}),
    source: context.source,
    ...(data.location !== undefined ? { location: data.location } : {}),
    ...(data.request?.id !== undefined ? { requestId: data.request.id } : {}),
  };
  // The normalized form has its own contract; check it rather than trust the mapping above.
  const checked = parseWith(RegistryEventSchema, candidate, context.root);
  if (!checked.ok) return rejected(checked.error, ids);
  return { kind: "event", event: checked.value };
}

function parseEventGridItem(
  value: Record<string, unknown>,
  root: PathSegment[],
  options: ParseRegistryEventsOptions,
  allowList: AllowList,
): Outcome {
  const envelope = parseWith(EventGridEnvelopeSchema, value, root);
  if (!envelope.ok) return rejected(envelope.error, idsOf(value, "eventType"));
  const event = envelope.value;
  const info = acrEventTypeInfo(event.eventType);
  if (info === undefined) {
    return unknownTypeOutcome(
      event.eventType,
      { id: event.id, root, typePath: [...root, "eventType"] },
      options,
    );
  }
  return normalizeAcrEvent(
    info,
    event.data,
    {
      root,
      dataPath: [...root, "data"],
      source: "eventgrid",
      id: event.id,
      eventType: event.eventType,
      resource: { value: event.topic, path: [...root, "topic"] },
      fallbackTime: { value: event.eventTime, path: [...root, "eventTime"] },
    },
    options,
    allowList,
  );
}

function cloudEventData(
  event: { data?: unknown; data_base64?: string | null },
  root: PathSegment[],
): unknown | EventParseError {
  if (event.data !== undefined || !event.data_base64) return event.data;
  const decoded = parseJson(Buffer.from(event.data_base64, "base64").toString("utf8"));
  if (decoded.ok) return decoded.value;
  return EventParseError.at([...root, "data_base64"], `does not hold JSON: ${decoded.message}`);
}

function parseCloudEventItem(
  value: Record<string, unknown>,
  root: PathSegment[],
  options: ParseRegistryEventsOptions,
  allowList: AllowList,
): Outcome {
  // One published documentation sample spells the attribute `specVersion`; the data is the same.
  const input =
    "specversion" in value || !("specVersion" in value)
      ? value
      : { ...value, specversion: value.specVersion };
  const envelope = parseWith(CloudEventEnvelopeSchema, input, root);
  if (!envelope.ok) return rejected(envelope.error, idsOf(value, "type"));
  const event = envelope.value;
  const info = acrEventTypeInfo(event.type);
  if (info === undefined) {
    return unknownTypeOutcome(event.type, { id: event.id, root, typePath: [...root, "type"] }, options);
  }
  const data = cloudEventData(event, root);
  if (data instanceof EventParseError) return rejected(data, { id: event.id, eventType: event.type });
  return normalizeAcrEvent(
    info,
    data,
    {
      root,
      dataPath: [...root, "data"],
      source: "cloudevents",
      id: event.id,
      eventType: event.type,
      resource: { value: event.source, path: [...root, "source"] },
      fallbackTime: { value: event.time, path: [...root, "time"] },
    },
    options,
    allowList,
  );
}

function parseWebhookItem(
  value: Record<string, unknown>,
  root: PathSegment[],
  options: ParseRegistryEventsOptions,
  allowList: AllowList,
): Outcome {
  // `az acr webhook ping` (the portal's Ping button) tests the endpoint: nothing happened in the
  // registry. Whatever else the body holds, answer it as received and record nothing.
  if (value.action === "ping") {
    const { id } = idsOf(value, "action");
    return {
      kind: "skipped",
      reason: "webhook ping: a test of the endpoint, nothing to record",
      ...(id !== undefined ? { eventId: id } : {}),
      eventType: "ping",
    };
  }
  const head = parseWith(AcrWebhookHeadSchema, value, root);
  if (!head.ok) return rejected(head.error, idsOf(value, "action"));
  const { id, action } = head.value;
  if (action === "quarantine") {
    return {
      kind: "skipped",
      reason: "quarantine notification: the image's state changed, not its existence",
      eventId: id,
      eventType: action,
    };
  }
  const info = acrEventTypeInfoForAction(action);
  if (info === undefined) {
    return unknownTypeOutcome(action, { id, root, typePath: [...root, "action"] }, options);
  }
  return normalizeAcrEvent(
    info,
    value,
    { root, dataPath: root, source: "acr-webhook", id, eventType: action },
    options,
    allowList,
  );
}

function idsOf(value: Record<string, unknown>, typeKey: string): { id?: string; eventType?: string } {
  const id = typeof value.id === "string" && value.id !== "" ? value.id : undefined;
  const eventType = typeof value[typeKey] === "string" ? (value[typeKey] as string) : undefined;
  return { ...(id !== undefined ? { id } : {}), ...(eventType !== undefined ? { eventType } : {}) };
}

function parseItem(item: DeliveryItem, options: ParseRegistryEventsOptions, allowList: AllowList): Outcome {
  if (item.decodeError !== undefined) return rejected(item.decodeError);
  const { value, path } = item;
  if (!isPlainObject(value)) {
    return rejected(
      EventParseError.at(
        path,
        `expected an event object, got ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`,
      ),
    );
  }
  const shape = detectEventShape(value);
  if (shape === undefined) {
    return rejected(
      EventParseError.at(
        path,
        "not an Event Grid event (eventType), a CloudEvent (specversion) or an ACR webhook body (action and target)",
      ),
      idsOf(value, "eventType"),
    );
  }
  if (options.expectedShape !== undefined && shape !== options.expectedShape) {
    return rejected(
      EventParseError.at(
        path,
        `expected ${SHAPE_NAMES[options.expectedShape]} but this is ${SHAPE_NAMES[shape]}`,
      ),
      idsOf(value, shape === "cloudevents" ? "type" : shape === "eventgrid" ? "eventType" : "action"),
    );
  }
  switch (shape) {
    case "eventgrid":
      return parseEventGridItem(value, path, options, allowList);
    case "cloudevents":
      return parseCloudEventItem(value, path, options, allowList);
    case "acr-webhook":
      return parseWebhookItem(value, path, options, allowList);
  }
}

function collect(
  items: readonly DeliveryItem[],
  options: ParseRegistryEventsOptions,
): ParseRegistryEventsResult {
  const allowList = new AllowList(options.allowedRegistries);
  const result: ParseRegistryEventsResult = { events: [], rejected: [], skipped: [] };
  for (const item of items) {
    let outcome: Outcome;
    try {
      outcome = parseItem(item, options, allowList);
    } catch (error) {
      // Defensive: a parser bug must cost one event, not the batch.
      outcome = rejected(
        EventParseError.at(
          item.path,
          `could not be parsed: ${error instanceof Error ? error.message : String(error)}`,
          error,
        ),
      );
    }
    const position = { index: item.index, ...(item.line !== undefined ? { line: item.line } : {}) };
    if (outcome.kind === "event") result.events.push(outcome.event);
    else if (outcome.kind === "skipped") {
      result.skipped.push({
        ...position,
        path: formatJsonPath(item.path),
        reason: outcome.reason,
        ...(outcome.eventId !== undefined ? { eventId: outcome.eventId } : {}),
        ...(outcome.eventType !== undefined ? { eventType: outcome.eventType } : {}),
      });
    } else {
      result.rejected.push({
        ...position,
        path: outcome.error.path,
        // The first problem's path is `path`; further problems name their own.
        message: outcome.error.issues
          .map((issue, i) => (i === 0 ? issue.message : `${issue.path}: ${issue.message}`))
          .join("; "),
        ...(outcome.eventId !== undefined ? { eventId: outcome.eventId } : {}),
        ...(outcome.eventType !== undefined ? { eventType: outcome.eventType } : {}),
        error: outcome.error,
      });
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * Parses any supported delivery: an Event Grid event or array (also dead-letter blobs, whose
 * events carry extra delivery fields), a CloudEvent or array, an ACR webhook body, JSON lines,
 * or a base64 queue message; `body` may be parsed JSON, a string or bytes. Each event's format is
 * detected on its own unless `expectedShape` is given.
 */
export function parseRegistryEvents(
  body: unknown,
  options: ParseRegistryEventsOptions,
): ParseRegistryEventsResult {
  return collect(decodeDelivery(body), options);
}

/** Event Grid schema deliveries: webhook batches, queue messages, the Event Grid trigger. */
export function parseEventGridEvents(
  body: unknown,
  options: Omit<ParseRegistryEventsOptions, "expectedShape">,
): ParseRegistryEventsResult {
  return parseRegistryEvents(body, { ...options, expectedShape: "eventgrid" });
}

/** CloudEvents 1.0 deliveries (single or batch, structured mode). */
export function parseCloudEvents(
  body: unknown,
  options: Omit<ParseRegistryEventsOptions, "expectedShape">,
): ParseRegistryEventsResult {
  return parseRegistryEvents(body, { ...options, expectedShape: "cloudevents" });
}

/** ACR native webhook bodies. */
export function parseAcrWebhook(
  body: unknown,
  options: Omit<ParseRegistryEventsOptions, "expectedShape">,
): ParseRegistryEventsResult {
  return parseRegistryEvents(body, { ...options, expectedShape: "acr-webhook" });
}

/**
 * Event Grid dead-letter blob content: a JSON array of the undelivered events (Event Grid or
 * CloudEvents schema, each with `deadLetterReason`, `deliveryAttempts`, `lastDeliveryOutcome`,
 * `publishTime`, ...) or the same events as JSON lines.
 */
export function parseDeadLetterBlob(
  content: string | Uint8Array,
  options: ParseRegistryEventsOptions,
): ParseRegistryEventsResult {
  return parseRegistryEvents(content, options);
}

/** Throws one EventParseError listing every rejected event, for callers that want all-or-nothing. */
export function assertNoRejections(result: ParseRegistryEventsResult): void {
  const issues = result.rejected.flatMap((rejection) => rejection.error.issues);
  const [first, ...rest] = issues;
  if (first !== undefined) {
    throw new EventParseError([first, ...rest], {
      cause: result.rejected.map((rejection) => rejection.error),
    });
  }
}
