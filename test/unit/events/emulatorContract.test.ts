import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildCloudEvent,
  buildEventGridEvent,
  buildSubscriptionValidationEvent,
  buildWebhookBody,
  defaultTopic,
  type EventOrigin,
} from "../../../emulator/events/payloads.js";
import type { ManifestNotification } from "../../../emulator/notifications.js";
import { classifyWebhookRequest, parseRegistryEvents } from "../../../shared/events/index.js";

/**
 * The emulator publishes what ACR publishes; the parser must accept all of it. This pins the
 * contract between emulator/events/payloads.ts and shared/events so that neither drifts alone.
 */

const LOGIN_SERVER = "127.0.0.1:8443";
const origin: EventOrigin = { topic: defaultTopic("emulator"), location: "local", instanceId: "emulator-1" };
const options = { allowedRegistries: new Set([LOGIN_SERVER]), unknownEventTypes: "reject" as const };

const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?$/).filter((c) => c.length <= 30);
const notificationArbitrary: fc.Arbitrary<ManifestNotification> = fc.record({
  id: fc.uuid(),
  action: fc.constantFrom("push" as const, "delete" as const),
  timestamp: fc
    .date({
      min: new Date("2020-01-01T00:00:00Z"),
      max: new Date("2030-01-01T00:00:00Z"),
      noInvalidDate: true,
    })
    .map((date) => date.toISOString()),
  loginServer: fc.constant(LOGIN_SERVER),
  repository: fc.array(component, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/")),
  digest: fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`),
  tag: fc.option(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/), { nil: undefined }),
  mediaType: fc.constantFrom(
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
  ),
  size: fc.option(fc.nat({ max: 4 * 1024 * 1024 }), { nil: undefined }),
  actor: fc.option(fc.constantFrom("ci", "admin"), { nil: undefined }),
  userAgent: fc.option(fc.constantFrom("skopeo/1.13", "containerd/1.7"), { nil: undefined }),
  requestId: fc.uuid(),
  requestMethod: fc.constantFrom("PUT", "DELETE"),
});

describe("the emulator's events parse", () => {
  it("in every format, to the same normalized event", () => {
    fc.assert(
      fc.property(notificationArbitrary, (notification) => {
        const publishedAt = new Date(Date.parse(notification.timestamp) + 250);
        const deliveries = [
          [buildEventGridEvent(notification, origin, publishedAt)],
          [buildCloudEvent(notification, origin, publishedAt)],
          buildWebhookBody(notification, origin),
        ];
        const parsed = deliveries.map((delivery) => parseRegistryEvents(JSON.stringify(delivery), options));
        for (const result of parsed) {
          expect(result.rejected).toEqual([]);
          expect(result.events).toHaveLength(1);
          const [event] = result.events;
          expect(event).toMatchObject({
            id: notification.id,
            kind: notification.action,
            registry: LOGIN_SERVER,
            repository: notification.repository,
            digest: notification.digest,
            mediaType: notification.mediaType,
            occurredAt: `${notification.timestamp.slice(0, 23)}000000Z`,
          });
          if (notification.action === "push") expect(event?.tag).toBe(notification.tag);
        }
        const withoutSource = parsed.map(({ events }) =>
          events.map(({ source: _s, location: _l, ...rest }) => rest),
        );
        expect(withoutSource[1]).toEqual(withoutSource[0]);
        expect(withoutSource[2]).toEqual(withoutSource[0]);
      }),
      { numRuns: 200 },
    );
  });

  it("its subscription validation event is classified as the handshake", () => {
    const event = buildSubscriptionValidationEvent({
      id: "v-1",
      topic: origin.topic,
      validationCode: "code-1",
      validationUrl: "https://127.0.0.1:553/validate?id=code-1",
      now: new Date("2026-03-01T00:00:00Z"),
    });
    const classification = classifyWebhookRequest({
      method: "POST",
      headers: { "aeg-event-type": "SubscriptionValidation", "content-type": "application/json" },
      body: JSON.stringify([event]),
    });
    expect(classification).toMatchObject({ kind: "eventgrid-validation", validationCode: "code-1" });
  });
});
