import { randomUUID } from "node:crypto";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { afterEach, describe, expect, it } from "vitest";
import {
  type EventDelivery,
  type EventDeliveryOptions,
  startEventDelivery,
} from "../../../emulator/eventDelivery.js";
import {
  AcrWebhookBodySchema,
  CloudEventImageEventSchema,
  EventGridImageEventSchema,
  SubscriptionValidationEventSchema,
} from "../../../emulator/events/payloads.js";
import { type ManifestNotification, RegistryNotifications } from "../../../emulator/notifications.js";
import {
  type ReceivedRequest,
  type SubscriberHandler,
  startTestSubscriber,
  type TestSubscriber,
} from "../../helpers/eventSubscriber.js";
import { makeTestCertificates } from "../../helpers/testCertificates.js";

const FAST_RETRY = { maxAttempts: 4, delaysMs: [20, 40, 80] };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function notification(overrides: Partial<ManifestNotification> = {}): ManifestNotification {
  return {
    id: randomUUID(),
    action: "push",
    timestamp: new Date().toISOString(),
    loginServer: "127.0.0.1:8443",
    repository: "team/app",
    digest: `sha256:${"b".repeat(64)}`,
    tag: "v1",
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    size: 512,
    userAgent: "test-agent/1.0",
    requestId: randomUUID(),
    requestMethod: "PUT",
    ...overrides,
  };
}

/** Answers the Event Grid handshake synchronously and accepts notifications with `status`. */
function eventGridSubscriber(
  notificationStatus: (request: ReceivedRequest) => number = () => 200,
): SubscriberHandler {
  return (request) => {
    if (request.headers["aeg-event-type"] === "SubscriptionValidation") {
      const [event] = JSON.parse(request.body) as [{ data: { validationCode: string } }];
      return { status: 200, body: JSON.stringify({ validationResponse: event.data.validationCode }) };
    }
    return { status: notificationStatus(request) };
  };
}

async function subscriber(
  handler: SubscriberHandler,
  tls?: { key: string; cert: string },
): Promise<TestSubscriber> {
  const started = await startTestSubscriber(handler, tls);
  cleanups.push(() => started.close());
  return started;
}

function deliver(options: EventDeliveryOptions): {
  notifications: RegistryNotifications;
  delivery: EventDelivery;
  logs: string[];
} {
  const notifications = new RegistryNotifications();
  const logs: string[] = [];
  const delivery = startEventDelivery(notifications, {
    retry: FAST_RETRY,
    log: (entry) => logs.push(`${entry.level}: ${entry.message}`),
    ...options,
  });
  cleanups.push(() => delivery.close());
  return { notifications, delivery, logs };
}

const notificationsOf = (requests: readonly ReceivedRequest[]) =>
  requests.filter(
    (request) => request.method === "POST" && request.headers["aeg-event-type"] === "Notification",
  );

describe("Event Grid schema delivery", () => {
  it("validates the subscription first, then posts arrays of ACR events that @azure/eventgrid accepts", async () => {
    const endpoint = await subscriber(eventGridSubscriber());
    const { notifications, delivery } = deliver({
      eventsUrl: `${endpoint.url}?code=secret-key`,
      eventsHeaders: { "X-Delivery-Secret": "shared-secret" },
    });
    const pushed = notification();
    const deleted = notification({
      action: "delete",
      tag: undefined,
      size: undefined,
      requestMethod: "DELETE",
    });
    notifications.emit("manifest", pushed);
    notifications.emit("manifest", deleted);
    await delivery.drain();

    const [handshake, ...rest] = endpoint.requests;
    expect(handshake?.method).toBe("POST");
    expect(handshake?.headers["aeg-event-type"]).toBe("SubscriptionValidation");
    expect(handshake?.path).toBe("/api/events?code=secret-key");
    const validation = JSON.parse(handshake?.body ?? "") as unknown[];
    expect(validation).toHaveLength(1);
    SubscriptionValidationEventSchema.parse(validation[0]);

    expect(rest).toHaveLength(2);
    expect(handshake?.headers["x-delivery-secret"]).toBe("shared-secret");
    const received = [];
    for (const request of rest) {
      expect(request.headers["aeg-event-type"]).toBe("Notification");
      expect(request.headers["x-delivery-secret"]).toBe("shared-secret");
      expect(request.headers["aeg-metadata-version"]).toBe("1");
      expect(request.headers["aeg-data-version"]).toBe("2.0");
      expect(request.headers["aeg-output-event-id"]).toBe(
        (JSON.parse(request.body) as [{ id: string }])[0].id,
      );
      expect(request.headers["content-type"]).toMatch(/^application\/json/);
      expect(request.headers["aeg-delivery-count"]).toBe("0");
      const body = JSON.parse(request.body) as unknown[];
      expect(Array.isArray(body)).toBe(true);
      for (const event of body) received.push(EventGridImageEventSchema.parse(event));
      const events = await new EventGridDeserializer().deserializeEventGridEvents(request.body);
      expect(events).toHaveLength(1);
    }
    const byId = new Map(received.map((event) => [event.id, event]));
    expect(byId.get(pushed.id)).toMatchObject({
      subject: "team/app:v1",
      eventType: "Microsoft.ContainerRegistry.ImagePushed",
      data: { action: "push", target: { digest: pushed.digest, tag: "v1", size: 512, length: 512 } },
    });
    expect(byId.get(deleted.id)).toMatchObject({
      subject: "team/app",
      eventType: "Microsoft.ContainerRegistry.ImageDeleted",
      data: { action: "delete", request: { method: "DELETE" } },
    });
    expect(delivery.stats()).toEqual([
      expect.objectContaining({
        kind: "eventgrid",
        state: "validated",
        delivered: 2,
        dropped: 0,
        pending: 0,
      }),
    ]);
    // Keys in the URL stay out of what the emulator reports.
    expect(JSON.stringify(delivery.stats())).not.toContain("secret-key");
  });

  it("batches up to maxEventsPerBatch events per request when asked", async () => {
    const endpoint = await subscriber(eventGridSubscriber());
    const { notifications, delivery } = deliver({
      eventsUrl: endpoint.url,
      maxEventsPerBatch: 10,
      concurrency: 1,
    });
    const sent = Array.from({ length: 5 }, () => notification());
    for (const event of sent) notifications.emit("manifest", event);
    await delivery.drain();
    const bodies = notificationsOf(endpoint.requests).map(
      (request) => JSON.parse(request.body) as { id: string }[],
    );
    expect(
      bodies
        .flat()
        .map((event) => event.id)
        .sort(),
    ).toEqual(sent.map((event) => event.id).sort());
    expect(bodies.length).toBeLessThan(5);
    for (const request of notificationsOf(endpoint.requests)) {
      await new EventGridDeserializer().deserializeEventGridEvents(request.body);
    }
  });

  it("retries after 500s with a growing delivery count until the subscriber accepts", async () => {
    let failuresLeft = 2;
    const endpoint = await subscriber(eventGridSubscriber(() => (failuresLeft-- > 0 ? 500 : 200)));
    const { notifications, delivery } = deliver({ eventsUrl: endpoint.url });
    const event = notification();
    notifications.emit("manifest", event);
    await delivery.drain();
    const attempts = notificationsOf(endpoint.requests);
    expect(attempts.map((request) => request.headers["aeg-delivery-count"])).toEqual(["0", "1", "2"]);
    for (const attempt of attempts) expect(JSON.parse(attempt.body)).toMatchObject([{ id: event.id }]);
    expect(delivery.stats()[0]).toMatchObject({ delivered: 1, dropped: 0, attempts: 3 });
  });

  it("gives up after maxAttempts and does not retry 400 (Event Grid dead-letters those at once)", async () => {
    const endpoint = await subscriber(
      eventGridSubscriber((request) => (request.body.includes("team/broken") ? 400 : 503)),
    );
    const { notifications, delivery, logs } = deliver({ eventsUrl: endpoint.url });
    notifications.emit("manifest", notification({ repository: "team/broken" }));
    notifications.emit("manifest", notification({ repository: "team/down" }));
    await delivery.drain();
    const attempts = notificationsOf(endpoint.requests);
    expect(attempts.filter((request) => request.body.includes("team/broken"))).toHaveLength(1);
    expect(attempts.filter((request) => request.body.includes("team/down"))).toHaveLength(
      FAST_RETRY.maxAttempts,
    );
    expect(delivery.stats()[0]).toMatchObject({ delivered: 0, dropped: 2, pending: 0 });
    expect(logs.some((line) => line.startsWith("error:") && line.includes("HTTP 503"))).toBe(true);
  });

  it("delivers nothing when the subscriber refuses the handshake", async () => {
    const endpoint = await subscriber((request) =>
      request.headers["aeg-event-type"] === "SubscriptionValidation"
        ? { status: 403, body: "no thanks" }
        : { status: 200 },
    );
    const { notifications, delivery, logs } = deliver({ eventsUrl: endpoint.url });
    notifications.emit("manifest", notification());
    await delivery.drain();
    notifications.emit("manifest", notification());
    await delivery.drain();
    expect(endpoint.requests).toHaveLength(1);
    expect(endpoint.requests[0]?.headers["aeg-event-type"]).toBe("SubscriptionValidation");
    expect(delivery.stats()[0]).toMatchObject({ state: "refused", delivered: 0, dropped: 2 });
    expect(logs.some((line) => line.includes("refused"))).toBe(true);
  });

  it("refuses a handshake answered with the wrong code or with 202", async () => {
    for (const reply of [
      { status: 200, body: JSON.stringify({ validationResponse: "not-the-code" }) },
      { status: 202, body: "" },
    ]) {
      const endpoint = await subscriber((request) =>
        request.headers["aeg-event-type"] === "SubscriptionValidation" ? reply : { status: 200 },
      );
      const { notifications, delivery } = deliver({ eventsUrl: endpoint.url });
      notifications.emit("manifest", notification());
      await delivery.drain();
      expect(notificationsOf(endpoint.requests)).toHaveLength(0);
      expect(delivery.stats()[0]?.state).toBe("refused");
    }
  });

  it("accepts asynchronous validation: 200 without a code, then a GET of validationUrl", async () => {
    let validationUrl = "";
    const endpoint = await subscriber((request) => {
      if (request.headers["aeg-event-type"] === "SubscriptionValidation") {
        const [event] = JSON.parse(request.body) as [{ data: { validationUrl: string } }];
        validationUrl = event.data.validationUrl;
        setTimeout(() => void fetch(validationUrl), 30);
        return { status: 200 };
      }
      return { status: 200 };
    });
    const { notifications, delivery } = deliver({
      eventsUrl: endpoint.url,
      manualValidationTimeoutMs: 5_000,
    });
    notifications.emit("manifest", notification());
    await delivery.drain();
    expect(validationUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/eventsubscriptions\/[^/]+\/validate\?id=/);
    expect(notificationsOf(endpoint.requests)).toHaveLength(1);
    // The URL works once: a second GET is refused.
    expect((await fetch(validationUrl)).status).toBe(400);
  });

  it("refuses when neither a code nor the GET arrives in time", async () => {
    const endpoint = await subscriber(() => ({ status: 200 }));
    const { notifications, delivery } = deliver({ eventsUrl: endpoint.url, manualValidationTimeoutMs: 50 });
    notifications.emit("manifest", notification());
    await delivery.drain();
    expect(notificationsOf(endpoint.requests)).toHaveLength(0);
    expect(delivery.stats()[0]?.state).toBe("refused");
  });

  it("retries the handshake while the subscriber is unreachable, and never blocks the emitter", async () => {
    const { notifications, delivery, logs } = deliver({ eventsUrl: "http://127.0.0.1:9/unreachable" });
    for (let i = 0; i < 100; i += 1) notifications.emit("manifest", notification());
    // emit() only queued: nothing was sent or settled while the registry's request was being handled.
    expect(delivery.stats()[0]).toMatchObject({
      state: "validating",
      pending: 100,
      delivered: 0,
      dropped: 0,
    });
    await delivery.drain();
    expect(delivery.stats()[0]).toMatchObject({ state: "new", delivered: 0, dropped: 100, pending: 0 });
    expect(logs.some((line) => line.includes("validation failed"))).toBe(true);
  });

  it("stops delivering and retrying on close", async () => {
    const endpoint = await subscriber(eventGridSubscriber(() => 500));
    const { notifications, delivery } = deliver({
      eventsUrl: endpoint.url,
      retry: { maxAttempts: 10, delaysMs: [200] },
    });
    notifications.emit("manifest", notification());
    await endpoint.waitFor((requests) => notificationsOf(requests).length === 1);
    await delivery.close();
    const seen = endpoint.requests.length;
    notifications.emit("manifest", notification());
    await delivery.drain();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(endpoint.requests).toHaveLength(seen);
    expect(notifications.listenerCount("manifest")).toBe(0);
  });

  it("trusts a private CA for an https subscriber", async () => {
    const tls = makeTestCertificates("events test CA");
    const endpoint = await subscriber(eventGridSubscriber(), { key: tls.keyPem, cert: tls.certPem });
    const trusting = deliver({ eventsUrl: endpoint.url, ca: tls.caCertPem });
    trusting.notifications.emit("manifest", notification());
    await trusting.delivery.drain();
    expect(trusting.delivery.stats()[0]).toMatchObject({ state: "validated", delivered: 1 });

    const distrusting = deliver({ eventsUrl: endpoint.url, retry: { maxAttempts: 1 } });
    distrusting.notifications.emit("manifest", notification());
    await distrusting.delivery.drain();
    expect(distrusting.delivery.stats()[0]).toMatchObject({ delivered: 0, dropped: 1 });
    expect(distrusting.logs.join("\n")).toMatch(/certificate/);
  });
});

describe("CloudEvents 1.0 delivery", () => {
  it("performs the OPTIONS abuse-protection handshake, then posts structured CloudEvents", async () => {
    const endpoint = await subscriber((request) =>
      request.method === "OPTIONS"
        ? {
            status: 200,
            headers: {
              "WebHook-Allowed-Origin": String(request.headers["webhook-request-origin"]),
              Allow: "POST",
            },
          }
        : { status: 202 },
    );
    const { notifications, delivery } = deliver({ eventsUrl: endpoint.url, eventsSchema: "cloudevents" });
    const pushed = notification();
    notifications.emit("manifest", pushed);
    await delivery.drain();

    const [handshake, post, ...none] = endpoint.requests;
    expect(none).toHaveLength(0);
    expect(handshake?.method).toBe("OPTIONS");
    expect(handshake?.headers["webhook-request-origin"]).toBe("eventgrid.azure.net");
    expect(post?.method).toBe("POST");
    expect(post?.headers["content-type"]).toMatch(/^application\/cloudevents\+json/);
    expect(post?.headers["aeg-event-type"]).toBe("Notification");
    expect(post?.headers["aeg-metadata-version"]).toBe("1.0");
    expect(post?.headers["aeg-output-event-id"]).toBe(pushed.id);
    const cloudEvent = CloudEventImageEventSchema.parse(JSON.parse(post?.body ?? ""));
    expect(cloudEvent).toMatchObject({ id: pushed.id, subject: "team/app:v1", specversion: "1.0" });
    const [parsed] = await new EventGridDeserializer().deserializeCloudEvents(post?.body ?? "");
    expect(parsed !== undefined && isSystemEvent("Microsoft.ContainerRegistry.ImagePushed", parsed)).toBe(
      true,
    );
  });

  it("accepts a wildcard origin and refuses a missing or different one", async () => {
    const cases: [Record<string, string>, "validated" | "refused"][] = [
      [{ "WebHook-Allowed-Origin": "*" }, "validated"],
      [{}, "refused"],
      [{ "WebHook-Allowed-Origin": "example.com" }, "refused"],
    ];
    for (const [headers, expected] of cases) {
      const endpoint = await subscriber((request) =>
        request.method === "OPTIONS" ? { status: 200, headers } : { status: 200 },
      );
      const { notifications, delivery } = deliver({ eventsUrl: endpoint.url, eventsSchema: "cloudevents" });
      notifications.emit("manifest", notification());
      await delivery.drain();
      expect(delivery.stats()[0]?.state).toBe(expected);
      expect(endpoint.requests.filter((request) => request.method === "POST")).toHaveLength(
        expected === "validated" ? 1 : 0,
      );
    }
  });
});

describe("ACR native webhook delivery", () => {
  it("posts bare event objects with the configured custom headers and no handshake", async () => {
    const endpoint = await subscriber(() => ({ status: 200 }));
    const { notifications, delivery } = deliver({
      webhookUrl: endpoint.url,
      webhookHeaders: { "X-Steward-Secret": "s3cret" },
    });
    const deleted = notification({
      action: "delete",
      tag: undefined,
      size: undefined,
      requestMethod: "DELETE",
    });
    notifications.emit("manifest", deleted);
    await delivery.drain();
    expect(endpoint.requests).toHaveLength(1);
    const [post] = endpoint.requests;
    expect(post?.headers["x-steward-secret"]).toBe("s3cret");
    expect(post?.headers["content-type"]).toBe("application/json");
    expect(post?.headers["aeg-event-type"]).toBeUndefined();
    const body = AcrWebhookBodySchema.strict().parse(JSON.parse(post?.body ?? ""));
    expect(body).toMatchObject({ id: deleted.id, action: "delete", target: { repository: "team/app" } });
  });

  it("runs beside an Event Grid subscription: each gets every event", async () => {
    const events = await subscriber(eventGridSubscriber());
    const hooks = await subscriber(() => ({ status: 200 }));
    const { notifications, delivery } = deliver({ eventsUrl: events.url, webhookUrl: hooks.url });
    notifications.emit("manifest", notification());
    notifications.emit("manifest", notification());
    await delivery.drain();
    expect(notificationsOf(events.requests)).toHaveLength(2);
    expect(hooks.requests).toHaveLength(2);
  });
});

describe("options", () => {
  it("reject a URL that is not http(s) with the option's name", () => {
    const notifications = new RegistryNotifications();
    expect(() => startEventDelivery(notifications, { eventsUrl: "ftp://example.com/" })).toThrow(/eventsUrl/);
    expect(() => startEventDelivery(notifications, { webhookUrl: "not a url" })).toThrow(/webhookUrl/);
  });
});
