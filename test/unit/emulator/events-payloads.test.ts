import { readFileSync } from "node:fs";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { describe, expect, it } from "vitest";
import {
  AcrWebhookBodySchema,
  buildCloudEvent,
  buildEventGridEvent,
  buildSubscriptionValidationEvent,
  buildWebhookBody,
  CloudEventImageEventSchema,
  EventGridImageEventSchema,
  type EventOrigin,
} from "../../../emulator/events/payloads.js";
import {
  EMULATOR_RETRY_POLICY,
  isDelivered,
  isPermanentFailure,
  resolveRetryPolicy,
  retryDelayMs,
} from "../../../emulator/events/retryPolicy.js";
import type { ManifestNotification } from "../../../emulator/notifications.js";

/** Real ACR payloads (verbatim copies, provenance in the folder's SOURCES.md). */
const FIXTURES = new URL("../../fixtures/events/", import.meta.url);

function readFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), "utf8")) as Record<string, unknown>;
}

const origin: EventOrigin = {
  topic: "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/emulator",
  location: "local",
  instanceId: "5a3c1e52-9c1f-4c43-a4b3-3f1f3a6b2d10",
};

const push: ManifestNotification = {
  id: "c25fdb80-ebbd-4dd0-a29c-a7349e6388f6",
  action: "push",
  timestamp: "2026-01-02T03:04:05.678Z",
  loginServer: "127.0.0.1:8443",
  repository: "samples/nginx",
  digest: `sha256:${"a".repeat(64)}`,
  tag: "latest",
  mediaType: "application/vnd.docker.distribution.manifest.v2+json",
  size: 1153,
  actor: "tester",
  userAgent: "skopeo/1.9.3",
  requestId: "9f8fa9d4-5b86-4066-b805-e406f321c7d6",
  requestMethod: "PUT",
};

const deletion: ManifestNotification = {
  id: "6fdef14c-2594-41e8-9156-c0376eb0a190",
  action: "delete",
  timestamp: "2026-01-02T03:04:06.000Z",
  loginServer: "127.0.0.1:8443",
  repository: "samples/nginx",
  digest: `sha256:${"a".repeat(64)}`,
  mediaType: "application/vnd.docker.distribution.manifest.v2+json",
  requestId: "62a60cbd-1bfc-4742-b013-ed7098922ca6",
  requestMethod: "DELETE",
};

const publishedAt = new Date("2026-01-02T03:04:07.000Z");

/** Keys of an object and of its nested objects, as dotted paths. */
function keyPaths(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, nested]) => [
    `${prefix}${key}`,
    ...keyPaths(nested, `${prefix}${key}.`),
  ]);
}

describe("Event Grid schema events", () => {
  it("have exactly the fields of the real ImagePushed payload (connectedRegistry aside) plus actor/source", () => {
    const event = buildEventGridEvent(push, origin, publishedAt);
    const real = keyPaths(readFixture("eventgrid_image_pushed.json")).filter(
      (path) => !path.startsWith("data.connectedRegistry"),
    );
    const ours = keyPaths(event).filter(
      (path) => !path.startsWith("data.actor") && !path.startsWith("data.source"),
    );
    expect(ours.sort()).toEqual(real.sort());
    expect(event.subject).toBe("samples/nginx:latest");
    expect(event.eventType).toBe("Microsoft.ContainerRegistry.ImagePushed");
    expect(event.data.target).toEqual({
      mediaType: push.mediaType,
      size: 1153,
      digest: push.digest,
      length: 1153,
      repository: "samples/nginx",
      tag: "latest",
    });
    expect(event.data.request).toEqual({
      id: push.requestId,
      host: "127.0.0.1:8443",
      method: "PUT",
      useragent: "skopeo/1.9.3",
    });
    expect(event.data.actor).toEqual({ name: "tester" });
  });

  it("shape deletes like the real ImageDeleted payload: subject is the repository, no size/length/tag", () => {
    const event = buildEventGridEvent(deletion, origin, publishedAt);
    const real = keyPaths(readFixture("eventgrid_image_deleted.json")).filter(
      (path) => !path.startsWith("data.connectedRegistry"),
    );
    const ours = keyPaths(event).filter((path) => !path.startsWith("data.source"));
    expect(ours.sort()).toEqual(real.sort());
    expect(event.subject).toBe("samples/nginx");
    expect(event.eventType).toBe("Microsoft.ContainerRegistry.ImageDeleted");
  });

  it("use the push subject without a tag when the manifest was pushed by digest", () => {
    const { tag: _tag, ...byDigest } = push;
    const event = buildEventGridEvent(byDigest, origin, publishedAt);
    expect(event.subject).toBe("samples/nginx");
    expect(event.data.target.tag).toBeUndefined();
  });

  it("never publish before the registry's own timestamp", () => {
    const early = new Date("2026-01-02T03:04:00.000Z");
    expect(buildEventGridEvent(push, origin, early).eventTime).toBe(push.timestamp);
    expect(buildEventGridEvent(push, origin, publishedAt).eventTime).toBe(publishedAt.toISOString());
  });

  it("pass the @azure/eventgrid deserializer and narrow to the ContainerRegistry types", async () => {
    const body = JSON.stringify([
      buildEventGridEvent(push, origin, publishedAt),
      buildEventGridEvent(deletion, origin, publishedAt),
    ]);
    const events = await new EventGridDeserializer().deserializeEventGridEvents(body);
    expect(events).toHaveLength(2);
    const [pushed, deleted] = events;
    if (pushed === undefined || deleted === undefined) throw new Error("two events expected");
    expect(isSystemEvent("Microsoft.ContainerRegistry.ImagePushed", pushed)).toBe(true);
    if (isSystemEvent("Microsoft.ContainerRegistry.ImagePushed", pushed)) {
      expect(pushed.data.target.digest).toBe(push.digest);
      expect(pushed.data.target.tag).toBe("latest");
    }
    expect(isSystemEvent("Microsoft.ContainerRegistry.ImageDeleted", deleted)).toBe(true);
    expect(pushed.eventTime).toBeInstanceOf(Date);
  });

  it("validate against our zod schema, and so do the real fixtures", () => {
    expect(EventGridImageEventSchema.safeParse(buildEventGridEvent(push, origin, publishedAt)).success).toBe(
      true,
    );
    expect(EventGridImageEventSchema.safeParse(readFixture("eventgrid_image_pushed.json")).success).toBe(
      true,
    );
    expect(EventGridImageEventSchema.safeParse(readFixture("eventgrid_image_deleted.json")).success).toBe(
      true,
    );
  });
});

describe("CloudEvents 1.0 events", () => {
  it("carry the same data under the CloudEvents attributes and pass deserializeCloudEvents", async () => {
    const cloudEvent = buildCloudEvent(push, origin, publishedAt);
    expect(CloudEventImageEventSchema.parse(cloudEvent)).toEqual(cloudEvent);
    expect(cloudEvent.source).toBe(origin.topic);
    expect(cloudEvent.type).toBe("Microsoft.ContainerRegistry.ImagePushed");
    expect(cloudEvent.data).toEqual(buildEventGridEvent(push, origin, publishedAt).data);
    const [parsed] = await new EventGridDeserializer().deserializeCloudEvents(JSON.stringify(cloudEvent));
    expect(parsed?.type).toBe("Microsoft.ContainerRegistry.ImagePushed");
    expect(parsed?.subject).toBe("samples/nginx:latest");
    expect(parsed?.time).toBeInstanceOf(Date);
  });
});

describe("ACR native webhook bodies", () => {
  it("are the bare event data without location", () => {
    const body = buildWebhookBody(push, origin);
    expect(AcrWebhookBodySchema.strict().parse(body)).toEqual(body);
    expect("location" in body).toBe(false);
    expect(body).toMatchObject({ id: push.id, action: "push", target: { tag: "latest", size: 1153 } });
    expect(buildWebhookBody(deletion, origin).target).toEqual({
      mediaType: deletion.mediaType,
      digest: deletion.digest,
      repository: "samples/nginx",
    });
  });
});

describe("the subscription validation event", () => {
  it("has the fields of Event Grid's documented validation event", () => {
    const documented = (readFixture("validation/subscription_validation.json") as unknown as unknown[])[0];
    const ours = buildSubscriptionValidationEvent({
      id: "id-1",
      topic: origin.topic,
      validationCode: "CODE-1",
      validationUrl: "http://127.0.0.1:1/eventsubscriptions/x/validate?id=CODE-1",
      now: publishedAt,
    });
    expect(keyPaths(ours).sort()).toEqual(keyPaths(documented).sort());
    expect(ours).toMatchObject({ subject: "", dataVersion: "1", metadataVersion: "1" });
  });

  it("is a valid Event Grid event carrying the code and URL", async () => {
    const event = buildSubscriptionValidationEvent({
      id: "id-1",
      topic: origin.topic,
      validationCode: "CODE-1",
      validationUrl: "http://127.0.0.1:1/eventsubscriptions/x/validate?id=CODE-1",
      now: publishedAt,
    });
    const [parsed] = await new EventGridDeserializer().deserializeEventGridEvents(JSON.stringify([event]));
    expect(
      parsed !== undefined && isSystemEvent("Microsoft.EventGrid.SubscriptionValidationEvent", parsed),
    ).toBe(true);
    expect(parsed?.data).toEqual({ validationCode: "CODE-1", validationUrl: event.data.validationUrl });
  });
});

describe("the retry policy", () => {
  it("grows delays like Event Grid, repeats the last one, and classifies answers", () => {
    expect(retryDelayMs(EMULATOR_RETRY_POLICY, 1)).toBe(100);
    expect(retryDelayMs(EMULATOR_RETRY_POLICY, 2)).toBe(300);
    expect(retryDelayMs(EMULATOR_RETRY_POLICY, 99)).toBe(6_000);
    expect([200, 201, 202, 203, 204].every(isDelivered)).toBe(true);
    expect([205, 301, 400, 429, 500].some(isDelivered)).toBe(false);
    expect(isPermanentFailure(400)).toBe(true);
    expect(isPermanentFailure(413)).toBe(true);
    expect(isPermanentFailure(404)).toBe(false);
    expect(isPermanentFailure(503)).toBe(false);
  });

  it("rejects nonsense settings with the name of the setting", () => {
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => resolveRetryPolicy({ delaysMs: [] })).toThrow(/delaysMs/);
    expect(resolveRetryPolicy({ maxAttempts: 2 })).toEqual({
      maxAttempts: 2,
      delaysMs: EMULATOR_RETRY_POLICY.delaysMs,
    });
  });
});
