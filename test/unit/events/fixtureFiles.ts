import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** Reads test/fixtures/events/<relative> as text or JSON. */
export function fixtureText(relative: string): string {
  return readFileSync(new URL(`../../fixtures/events/${relative}`, import.meta.url), "utf8");
}

export function fixtureJson(relative: string): unknown {
  return JSON.parse(fixtureText(relative));
}

/** The digests the constructed fixtures use: sha256 of a short label. */
export function labelDigest(label: string): string {
  return `sha256:${createHash("sha256").update(label).digest("hex")}`;
}

/** The CloudEvents 1.0 form of an Event Grid event, by the documented mapping. */
export function toCloudEvent(event: Record<string, unknown>): Record<string, unknown> {
  return {
    specversion: "1.0",
    id: event.id,
    source: event.topic,
    type: event.eventType,
    subject: event.subject,
    time: event.eventTime,
    data: event.data,
  };
}

/** The ACR webhook body carried by an Event Grid event (its data without the Event Grid-only blocks). */
export function toWebhookBody(event: Record<string, unknown>): Record<string, unknown> {
  const {
    location: _location,
    connectedRegistry: _connected,
    ...body
  } = event.data as Record<string, unknown>;
  return body;
}

export const CONTOSO = "contosoregistry.azurecr.io";
export const JOLOV = "jolovcr.azurecr.io";
