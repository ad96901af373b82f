import { readFileSync } from "node:fs";
import { HttpRequest, InvocationContext } from "@azure/functions";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIngestRegistryEventsHandler } from "../../../functions/ingestRegistryEvents.js";
import { createOnRegistryEventHandler } from "../../../functions/onRegistryEvent.js";
import { createRegistryWebhookHandler } from "../../../functions/registryWebhook.js";
import { loadConfig } from "../../../shared/config/config.js";
import { UnavailableError } from "../../../shared/errors/index.js";
import { parseRegistryEvents } from "../../../shared/events/parse.js";
import { createTableClient } from "../../../shared/inventory/tableClients.js";
import { TableInventoryStore } from "../../../shared/inventory/tableInventoryStore.js";
import { buildIngestRuntime, type IngestRuntime } from "../../../shared/runtime/index.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";
import { FakeEnricher } from "../../integration/inventory/harness.js";

const SECRET = "a-webhook-secret-of-some-length";
const fixture = (path: string): unknown => JSON.parse(readFileSync(`test/fixtures/events/${path}`, "utf8"));

let connectionString: string;
beforeAll(async () => {
  connectionString = await getTestStorage();
});
afterAll(stopTestStorage);

async function runtimeFor(storage: string, extra: Record<string, string> = {}): Promise<IngestRuntime> {
  const config = loadConfig({
    ACR_STEWARD_REGISTRIES: "jolovcr.azurecr.io,contosoregistry.azurecr.io",
    ACR_STEWARD_STORAGE: storage,
    ACR_STEWARD_WEBHOOK_SECRET: SECRET,
    ...extra,
  });
  return buildIngestRuntime(config, {
    enricher: new FakeEnricher(),
    names: {
      tables: {
        manifests: uniqueName("manifests"),
        tags: uniqueName("tags"),
        audit: uniqueName("audit"),
        coordination: uniqueName("coordination"),
      },
      queues: { scanRequests: uniqueName("scan"), retentionRequests: uniqueName("retention") },
    },
  });
}

interface Captured {
  readonly context: InvocationContext;
  readonly warnings: string[];
}

function invocation(functionName: string, triggerMetadata: Record<string, unknown> = {}): Captured {
  const warnings: string[] = [];
  const context = new InvocationContext({
    functionName,
    triggerMetadata,
    logHandler: (level, ...args) => {
      if (level === "warning" || level === "error") warnings.push(args.map(String).join(" "));
    },
  });
  return { context, warnings };
}

async function images(runtime: IngestRuntime) {
  const records = [];
  for await (const record of runtime.ingest.inventory.listImages({ includeDeleted: true }))
    records.push(record);
  return records;
}

describe("Function: ingestRegistryEvents (queue trigger)", () => {
  it("records the event of a queue message, parsed by the runtime or still base64 text", async () => {
    const runtime = await runtimeFor(connectionString);
    const handler = createIngestRegistryEventsHandler(async () => runtime);
    const pushed = fixture("eventgrid_image_pushed.json") as { data: { target: { digest: string } } };

    const { context, warnings } = invocation("ingestRegistryEvents", { dequeueCount: 1 });
    await handler(pushed, context);
    await handler(Buffer.from(JSON.stringify(pushed)).toString("base64"), context);
    expect(warnings).toEqual([]);

    const [image, ...others] = await images(runtime);
    expect(others).toEqual([]);
    expect(image).toMatchObject({
      registry: "jolovcr.azurecr.io",
      repository: "samples/nginx",
      digest: pushed.data.target.digest,
      tags: ["latest"],
      state: "present",
    });
  });

  it("drops malformed messages without writing anything and without asking for a retry", async () => {
    const runtime = await runtimeFor(connectionString);
    const handler = createIngestRegistryEventsHandler(async () => runtime);
    const pushed = fixture("eventgrid_image_pushed.json") as Record<string, unknown>;
    // Arbitrary JSON, and the real event with one field replaced by arbitrary JSON.
    const mutated = fc
      .tuple(fc.constantFrom("id", "eventType", "eventTime", "data", "topic", "subject"), fc.jsonValue())
      .map(([field, value]) => ({ ...pushed, [field]: value }));
    const deepMutated = fc
      .tuple(fc.constantFrom("digest", "repository", "tag", "mediaType", "size"), fc.jsonValue())
      .map(([field, value]) => {
        const copy = structuredClone(pushed) as { data: { target: Record<string, unknown> } };
        copy.data.target[field] = value;
        return copy;
      });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), mutated, deepMutated), async (message) => {
        const stillValid = parseRegistryEvents(message, runtime.parseOptions).events.length > 0;
        fc.pre(!stillValid);
        await handler(message, invocation("ingestRegistryEvents").context);
      }),
      { numRuns: 60 },
    );
    expect(await images(runtime)).toEqual([]);
  });

  it("logs and drops an event from a registry outside the allow-list (a retry cannot help)", async () => {
    const runtime = await runtimeFor(connectionString, { ACR_STEWARD_REGISTRIES: "other.azurecr.io" });
    const handler = createIngestRegistryEventsHandler(async () => runtime);
    const { context, warnings } = invocation("ingestRegistryEvents");
    await expect(handler(fixture("eventgrid_image_pushed.json"), context)).resolves.toBeUndefined();
    expect(warnings.join("\n")).toMatch(/rejected \$.*jolovcr\.azurecr\.io/);
    expect(await images(runtime)).toEqual([]);
  });

  it("throws when storage is unreachable, so the runtime retries the message", async () => {
    const working = await runtimeFor(connectionString);
    const unreachable = connectionString.replace(
      /TableEndpoint=http:\/\/127\.0\.0\.1:\d+/,
      "TableEndpoint=http://127.0.0.1:9",
    );
    const broken = withUnreachableTables(unreachable, working);
    const handler = createIngestRegistryEventsHandler(async () => broken);
    const { context } = invocation("ingestRegistryEvents");
    await expect(handler(fixture("eventgrid_image_pushed.json"), context)).rejects.toBeInstanceOf(
      UnavailableError,
    );
  });
});

/** A runtime whose table client points at a closed port (the tables were created beforehand). */
function withUnreachableTables(unreachable: string, template: IngestRuntime): IngestRuntime {
  const storage = { kind: "connectionString" as const, connectionString: unreachable };
  const inventory = new TableInventoryStore(
    {
      manifests: createTableClient(storage, "manifests"),
      tags: createTableClient(storage, "tags"),
      audit: createTableClient(storage, "audit"),
    },
    { enricher: new FakeEnricher() },
  );
  return { ...template, ingest: { ...template.ingest, inventory } };
}

describe("Function: onRegistryEvent (Event Grid trigger)", () => {
  it("applies a delete as a tombstone", async () => {
    const runtime = await runtimeFor(connectionString);
    const handler = createOnRegistryEventHandler(async () => runtime);
    const { context, warnings } = invocation("onRegistryEvent");
    await handler(fixture("eventgrid_image_pushed.json"), context);
    await handler(fixture("eventgrid_image_deleted.json"), context);
    expect(warnings).toEqual([]);
    expect(await images(runtime)).toEqual([expect.objectContaining({ state: "deleted", tags: [] })]);
  });
});

describe("Function: registryWebhook (HTTP)", () => {
  const url = "https://app.example/api/registry-webhook";
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    new HttpRequest({
      method: "POST",
      url,
      headers: { "content-type": "application/json", ...headers },
      body: { string: typeof body === "string" ? body : JSON.stringify(body) },
    });

  it("answers the Event Grid validation handshake with the code", async () => {
    const handler = createRegistryWebhookHandler(async () => runtimeFor(connectionString));
    const response = await handler(
      post(fixture("validation/subscription_validation.json"), {
        "aeg-event-type": "SubscriptionValidation",
      }),
      invocation("registryWebhook").context,
    );
    expect(response).toMatchObject({
      status: 200,
      jsonBody: { validationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" },
    });
  });

  it("grants the CloudEvents OPTIONS handshake to the requesting origin", async () => {
    const handler = createRegistryWebhookHandler(async () => runtimeFor(connectionString));
    const request = new HttpRequest({
      method: "OPTIONS",
      url,
      headers: { "WebHook-Request-Origin": "eventgrid.azure.net" },
    });
    const response = await handler(request, invocation("registryWebhook").context);
    expect(response.status).toBe(200);
    expect(response.headers).toMatchObject({ "WebHook-Allowed-Origin": "eventgrid.azure.net" });
  });

  it("requires the shared secret on ACR webhooks: 401 when missing or wrong, 403 when none is configured", async () => {
    const runtime = await runtimeFor(connectionString);
    const handler = createRegistryWebhookHandler(async () => runtime);
    const body = fixture("webhook/push.json");
    const { context } = invocation("registryWebhook");
    expect((await handler(post(body), context)).status).toBe(401);
    const wrong = await handler(post(body, { "x-acr-steward-secret": "not-the-secret" }), context);
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.jsonBody)).not.toContain(SECRET);
    expect(await images(runtime)).toEqual([]);

    const unconfigured = await runtimeFor(connectionString, { ACR_STEWARD_WEBHOOK_SECRET: "" });
    const refusing = createRegistryWebhookHandler(async () => unconfigured);
    expect((await refusing(post(body, { "x-acr-steward-secret": SECRET }), context)).status).toBe(403);

    const accepted = await handler(post(body, { "x-acr-steward-secret": SECRET }), context);
    expect(accepted).toMatchObject({ status: 200, jsonBody: { accepted: 1, rejected: 0 } });
    expect(await images(runtime)).toEqual([
      expect.objectContaining({ registry: "contosoregistry.azurecr.io", state: "present" }),
    ]);
  });

  it("answers a webhook ping (az acr webhook ping) with 200 and records nothing; the secret still applies", async () => {
    const runtime = await runtimeFor(connectionString);
    const handler = createRegistryWebhookHandler(async () => runtime);
    const { context } = invocation("registryWebhook");
    // No captured ping body is at hand: only its documented action is relied on.
    const ping = {
      id: "7d3d6c2c-0000-4000-8000-000000000001",
      timestamp: "2026-11-27T10:00:00Z",
      action: "ping",
    };
    expect((await handler(post(ping), context)).status).toBe(401);
    const answered = await handler(post(ping, { "x-acr-steward-secret": SECRET }), context);
    expect(answered).toMatchObject({ status: 200, jsonBody: { accepted: 0, rejected: 0 } });
    const bare = await handler(post({ action: "ping" }, { "x-acr-steward-secret": SECRET }), context);
    expect(bare.status).toBe(200);
    expect(await images(runtime)).toEqual([]);
  });

  it("answers 400 with a precise message for a body that is not JSON", async () => {
    const handler = createRegistryWebhookHandler(async () => runtimeFor(connectionString));
    const response = await handler(post("{not json"), invocation("registryWebhook").context);
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.jsonBody)).toContain("not JSON");
  });

  it("stores the valid events of a batch and names the rejected one in a 400", async () => {
    const runtime = await runtimeFor(connectionString);
    const handler = createRegistryWebhookHandler(async () => runtime);
    const good = fixture("eventgrid_image_pushed.json") as Record<string, unknown>;
    const bad = structuredClone(good) as { id: string; data: { id: string; target: { digest: string } } };
    bad.id = "bad-event";
    bad.data.id = "bad-event";
    bad.data.target.digest = "sha256:not-a-digest";
    const response = await handler(post([good, bad]), invocation("registryWebhook").context);
    expect(response.status).toBe(400);
    expect(response.jsonBody).toMatchObject({
      accepted: 1,
      rejected: 1,
      rejections: [expect.objectContaining({ path: expect.stringContaining("$[1]"), eventId: "bad-event" })],
    });
    expect(await images(runtime)).toHaveLength(1);
  });
});
