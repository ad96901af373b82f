import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { afterAll, describe, expect, it } from "vitest";
import {
  AcrWebhookBodySchema,
  CloudEventImageEventSchema,
  EventGridImageEventSchema,
} from "../../../emulator/events/payloads.js";
import { parseRegistryEvents } from "../../../shared/events/index.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import {
  type ReceivedRequest,
  startTestSubscriber,
  type TestSubscriber,
} from "../../helpers/eventSubscriber.js";
import {
  buildImage,
  dockerReference,
  makeCertDir,
  makeWorkDir,
  type RegistryAccess,
  sha256Digest,
  skopeoCopy,
  skopeoDelete,
} from "../../helpers/ociTools.js";
import { RawRegistryClient } from "../../helpers/rawRegistryClient.js";

/**
 * End to end: the emulator started with an events URL (and a webhook URL) delivers ACR events for
 * what real clients do to it — skopeo pushing and deleting an image, raw /v2 pushes.
 */

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const credentials = { username: "events-user", password: "events-secret" };

const notificationsOf = (requests: readonly ReceivedRequest[]) =>
  requests.filter(
    (request) => request.method === "POST" && request.headers["aeg-event-type"] === "Notification",
  );

async function subscriber(handler: Parameters<typeof startTestSubscriber>[0]): Promise<TestSubscriber> {
  const started = await startTestSubscriber(handler);
  cleanups.push(() => started.close());
  return started;
}

async function emulator(options: Parameters<typeof startTestEmulator>[0]): Promise<TestEmulator> {
  const env = await startTestEmulator(options);
  cleanups.push(() => env.close());
  return env;
}

describe("the emulator's Event Grid events", () => {
  it("arrive for a skopeo push and delete, after the validation handshake, shaped like ACR's", async () => {
    const endpoint = await subscriber((request) => {
      if (request.headers["aeg-event-type"] === "SubscriptionValidation") {
        const [event] = JSON.parse(request.body) as [{ data: { validationCode: string } }];
        return { status: 200, body: JSON.stringify({ validationResponse: event.data.validationCode }) };
      }
      return { status: 200 };
    });
    const env = await emulator({ ...credentials, eventsUrl: endpoint.url });
    const work = await makeWorkDir("acr-steward-events-e2e-");
    cleanups.push(() => work.dispose());
    const image = await buildImage({
      layout: `${work.dir}/layout`,
      tag: "v1",
      files: { "/app.txt": "events\n" },
    });
    const access: RegistryAccess = {
      host: env.loginServer,
      certDir: await makeCertDir(env.emulator.caCert, work.dir),
      credentials,
    };

    await skopeoCopy(image.reference, dockerReference(access, "team/events:v1"), { dest: access });
    await endpoint.waitFor((requests) => notificationsOf(requests).length === 1);
    await skopeoDelete(dockerReference(access, "team/events:v1"), access);
    await endpoint.waitFor((requests) => notificationsOf(requests).length === 2);

    expect(endpoint.requests[0]?.headers["aeg-event-type"]).toBe("SubscriptionValidation");
    const bodies = notificationsOf(endpoint.requests).map((request) => request.body);
    const events = (
      await Promise.all(bodies.map((body) => new EventGridDeserializer().deserializeEventGridEvents(body)))
    ).flat();
    const pushed = events.find((event) => isSystemEvent("Microsoft.ContainerRegistry.ImagePushed", event));
    const deleted = events.find((event) => isSystemEvent("Microsoft.ContainerRegistry.ImageDeleted", event));
    if (pushed === undefined || deleted === undefined) throw new Error(`push and delete expected: ${bodies}`);

    const rawPushed = EventGridImageEventSchema.parse((JSON.parse(bodies[0] ?? "[]") as unknown[])[0]);
    expect(rawPushed.subject).toBe("team/events:v1");
    expect(rawPushed.data).toMatchObject({
      action: "push",
      target: {
        repository: "team/events",
        tag: "v1",
        digest: image.manifestDigest,
        mediaType: image.manifestMediaType,
        size: image.manifestBytes.length,
        length: image.manifestBytes.length,
      },
      request: { host: env.loginServer, method: "PUT" },
    });
    expect(rawPushed.data.request.useragent).not.toBe("");
    expect(sha256Digest(image.manifestBytes)).toBe(rawPushed.data.target.digest);

    const rawDeleted = EventGridImageEventSchema.parse((JSON.parse(bodies[1] ?? "[]") as unknown[])[0]);
    expect(rawDeleted.subject).toBe("team/events");
    expect(rawDeleted.data).toMatchObject({
      action: "delete",
      target: { repository: "team/events", digest: image.manifestDigest },
      request: { method: "DELETE" },
    });
    expect(rawDeleted.data.target.tag).toBeUndefined();
    expect(rawDeleted.data.target.size).toBeUndefined();

    // acr-steward's own event parser takes them as real ACR events.
    const parsed = bodies.map((body) =>
      parseRegistryEvents(body, {
        allowedRegistries: new Set([env.loginServer]),
        unknownEventTypes: "reject",
        expectedShape: "eventgrid",
      }),
    );
    expect(parsed.flatMap((result) => [...result.rejected, ...result.skipped])).toEqual([]);
    expect(parsed.flatMap((result) => result.events)).toMatchObject([
      {
        kind: "push",
        registry: env.loginServer,
        repository: "team/events",
        tag: "v1",
        digest: image.manifestDigest,
      },
      { kind: "delete", registry: env.loginServer, repository: "team/events", digest: image.manifestDigest },
    ]);
  });
});

describe("the emulator's CloudEvents and native webhooks", () => {
  it("deliver a raw /v2 manifest push to both endpoints", async () => {
    const cloudEvents = await subscriber((request) =>
      request.method === "OPTIONS"
        ? {
            status: 200,
            headers: { "WebHook-Allowed-Origin": String(request.headers["webhook-request-origin"]) },
          }
        : { status: 200 },
    );
    const webhook = await subscriber(() => ({ status: 200 }));
    const env = await emulator({
      ...credentials,
      eventsUrl: cloudEvents.url,
      eventsSchema: "cloudevents",
      webhookUrl: webhook.url,
      events: { webhookHeaders: { "X-Acr-Steward-Secret": "hook-secret" } },
    });
    const client = new RawRegistryClient({ baseUrl: env.url, ca: env.emulator.caCert, credentials });
    const config = Buffer.from("{}");
    const started = await client.send("POST", "/v2/team/hooks/blobs/uploads/");
    const uploaded = await client.send(
      "PUT",
      `${String(started.headers.location)}?digest=${encodeURIComponent(sha256Digest(config))}`,
      { body: config },
    );
    expect(uploaded.status).toBe(201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.empty.v1+json",
          digest: sha256Digest(config),
          size: config.length,
        },
        layers: [],
      }),
    );
    const put = await client.send("PUT", "/v2/team/hooks/manifests/1.0.0", {
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: manifest,
    });
    expect(put.status).toBe(201);

    await cloudEvents.waitFor((requests) => requests.some((request) => request.method === "POST"));
    await webhook.waitFor((requests) => requests.length === 1);

    expect(cloudEvents.requests[0]?.method).toBe("OPTIONS");
    const post = cloudEvents.requests.find((request) => request.method === "POST");
    const cloudEvent = CloudEventImageEventSchema.parse(JSON.parse(post?.body ?? ""));
    expect(cloudEvent).toMatchObject({
      subject: "team/hooks:1.0.0",
      type: "Microsoft.ContainerRegistry.ImagePushed",
      data: { target: { digest: sha256Digest(manifest), tag: "1.0.0" } },
    });
    await new EventGridDeserializer().deserializeCloudEvents(post?.body ?? "");

    // The webhook carries the custom header configured on it (as ACR webhooks do), the CloudEvents don't.
    expect(webhook.requests[0]?.headers["x-acr-steward-secret"]).toBe("hook-secret");
    expect(post?.headers["x-acr-steward-secret"]).toBeUndefined();
    const hook = AcrWebhookBodySchema.strict().parse(JSON.parse(webhook.requests[0]?.body ?? ""));
    expect(hook).toMatchObject({ id: cloudEvent.id, action: "push", target: { repository: "team/hooks" } });

    // Deleting the whole repository (ACR API) is announced as a manifest delete, like ACR's `delete` action.
    const removed = await client.send("DELETE", "/acr/v1/team/hooks?api-version=2021-07-01");
    expect(removed.status).toBe(202);
    await webhook.waitFor((requests) => requests.length === 2);
    const deletion = AcrWebhookBodySchema.strict().parse(JSON.parse(webhook.requests[1]?.body ?? ""));
    expect(deletion).toMatchObject({
      action: "delete",
      target: { repository: "team/hooks", digest: sha256Digest(manifest) },
      request: { method: "DELETE" },
    });
    expect(deletion.target.tag).toBeUndefined();

    const options = { allowedRegistries: new Set([env.loginServer]), unknownEventTypes: "reject" } as const;
    const fromCloudEvent = parseRegistryEvents(post?.body ?? "", {
      ...options,
      expectedShape: "cloudevents",
    });
    const fromWebhooks = webhook.requests.map((request) =>
      parseRegistryEvents(request.body, { ...options, expectedShape: "acr-webhook" }),
    );
    for (const result of [fromCloudEvent, ...fromWebhooks]) {
      expect([...result.rejected, ...result.skipped]).toEqual([]);
    }
    expect(fromCloudEvent.events).toMatchObject([{ kind: "push", source: "cloudevents", tag: "1.0.0" }]);
    expect(fromWebhooks.flatMap((result) => result.events)).toMatchObject([
      { kind: "push", source: "acr-webhook", registry: env.loginServer },
      { kind: "delete", source: "acr-webhook", registry: env.loginServer },
    ]);
  });
});
