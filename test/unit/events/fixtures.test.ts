import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { describe, expect, it } from "vitest";
import {
  acrEventTypeInfo,
  parseAcrWebhook,
  parseCloudEvents,
  parseEventGridEvents,
  parseRegistryEvents,
  type RegistryEvent,
  RegistryEventSchema,
} from "../../../shared/events/index.js";
import {
  CONTOSO,
  fixtureJson,
  fixtureText,
  JOLOV,
  labelDigest,
  toCloudEvent,
  toWebhookBody,
} from "./fixtureFiles.js";

const options = {
  allowedRegistries: new Set([CONTOSO, JOLOV]),
  unknownEventTypes: "skip" as const,
};

const NGINX_DIGEST = "sha256:57a94fc99816c6aa225678b738ac40d85422e75dbb96115f1bb9b6ed77176166";

/** Every single-event Event Grid fixture and the RegistryEvent it must become (source aside). */
const EVENT_GRID_FIXTURES: ReadonlyArray<{ file: string; expected: Omit<RegistryEvent, "source"> }> = [
  {
    file: "eventgrid_image_pushed.json",
    expected: {
      id: "c25fdb80-ebbd-4dd0-a29c-a7349e6388f6",
      kind: "push",
      registry: JOLOV,
      repository: "samples/nginx",
      digest: NGINX_DIGEST,
      tag: "latest",
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 1153,
      occurredAt: "2021-09-08T06:37:45.468100900Z",
      userAgent:
        "docker/20.10.7 go/go1.13.15 git-commit/b0f5bc3 kernel/5.10.16.3-microsoft-standard-WSL2 os/linux arch/amd64 UpstreamClient(Docker-Client/20.10.7 \\(windows\\))",
      location: "westus",
      requestId: "9f8fa9d4-5b86-4066-b805-e406f321c7d6",
    },
  },
  {
    file: "eventgrid_image_deleted.json",
    expected: {
      id: "6fdef14c-2594-41e8-9156-c0376eb0a190",
      kind: "delete",
      registry: JOLOV,
      repository: "samples/nginx",
      digest: NGINX_DIGEST,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 0,
      occurredAt: "2021-09-08T06:49:40.185024800Z",
      userAgent: "python-requests/2.22.0",
      location: "westus",
      requestId: "62a60cbd-1bfc-4742-b013-ed7098922ca6",
    },
  },
  {
    file: "eventgrid/image_pushed_v1.json",
    expected: {
      id: "0b7c4f0e-6d2a-4a51-9a36-1f0e8d2b3c41",
      kind: "push",
      registry: CONTOSO,
      repository: "team-a/api",
      digest: labelDigest("api manifest v1.4.2"),
      tag: "v1.4.2",
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 1578,
      occurredAt: "2026-03-02T09:15:27.512884311Z",
      userAgent: "containerd/v1.7.13",
      requestId: "3e1d2f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
    },
  },
  {
    file: "eventgrid/image_deleted_v1.json",
    expected: {
      id: "a4e2b8c1-7f3d-4e6a-b5c9-2d8f1e0a3b74",
      kind: "delete",
      registry: CONTOSO,
      repository: "team-a/api",
      digest: labelDigest("api manifest v1.3.0"),
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 0,
      occurredAt: "2026-03-02T11:02:43.870000000Z",
      userAgent: "azure-cli/2.58.0 (AZURECLI)",
      requestId: "c9d8e7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f",
    },
  },
  {
    file: "eventgrid/image_pushed_2018_bare_event_type.json",
    expected: {
      id: "5f3a9d2e-1c4b-4e8f-a7d6-0b9c8e7f6a51",
      kind: "push",
      registry: CONTOSO,
      repository: "tools/builder",
      digest: labelDigest("builder 2018"),
      tag: "2018",
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 3023,
      occurredAt: "2026-03-01T21:39:47.276585742Z",
      userAgent: "docker/18.03.0-ce go/go1.9.4 os/windows arch/amd64",
      requestId: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
    },
  },
  {
    file: "eventgrid/image_pushed_actor_source_offset.json",
    expected: {
      id: "e8d7c6b5-a4f3-4e2d-8c1b-0a9f8e7d6c5b",
      kind: "push",
      registry: CONTOSO,
      repository: "team-b/worker",
      digest: labelDigest("worker manifest 2026"),
      tag: "2026.03.02",
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 2191,
      occurredAt: "2026-03-02T11:59:59.125000000Z",
      actor: "ci-pipeline",
      userAgent: "buildkit/v0.12",
      location: "westeurope",
      requestId: "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
    },
  },
  {
    file: "eventgrid/chart_pushed.json",
    expected: {
      id: "d1c2b3a4-9e8f-4d7c-b6a5-f4e3d2c1b0a9",
      kind: "chartPush",
      registry: CONTOSO,
      repository: "helm/ingress",
      digest: labelDigest("chart ingress 0.9.1"),
      tag: "ingress-0.9.1.tgz",
      mediaType: "application/vnd.acr.helm.chart",
      size: 25265,
      occurredAt: "2026-03-03T08:16:31.008749600Z",
      location: "westeurope",
    },
  },
  {
    file: "eventgrid/chart_deleted_broken_event_time.json",
    expected: {
      id: "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2e",
      kind: "chartDelete",
      registry: CONTOSO,
      repository: "helm/ingress",
      digest: labelDigest("chart ingress 0.9.1"),
      tag: "ingress-0.9.1.tgz",
      mediaType: "application/vnd.acr.helm.chart",
      size: 25265,
      occurredAt: "2026-03-03T15:42:08.378377500Z",
    },
  },
];

describe("every fixture event in every schema", () => {
  for (const { file, expected } of EVENT_GRID_FIXTURES) {
    describe(file, () => {
      const event = fixtureJson(file) as Record<string, unknown>;

      it("parses as an Event Grid event (alone, in a batch, detected or expected)", () => {
        for (const result of [
          parseRegistryEvents(event, options),
          parseRegistryEvents([event], options),
          parseEventGridEvents(fixtureText(file), options),
        ]) {
          expect(result.rejected).toEqual([]);
          expect(result.events).toEqual([{ ...expected, source: "eventgrid" }]);
        }
      });

      it("parses as a CloudEvent built by the documented mapping", () => {
        const cloudEvent = toCloudEvent(event);
        const result = parseCloudEvents([cloudEvent], options);
        expect(result.rejected).toEqual([]);
        expect(result.events).toEqual([{ ...expected, source: "cloudevents" }]);
      });

      it("parses as an ACR webhook body (chart bodies name no host: the endpoint's registry applies)", () => {
        const body = toWebhookBody(event);
        const result = parseAcrWebhook(body, { ...options, defaultRegistry: expected.registry });
        expect(result.rejected).toEqual([]);
        const { location: _location, ...withoutLocation } = expected;
        expect(result.events).toEqual([{ ...withoutLocation, source: "acr-webhook" }]);
      });

      it("produces events that satisfy the RegistryEvent contract", () => {
        const [normalized] = parseRegistryEvents(event, options).events;
        expect(RegistryEventSchema.safeParse(normalized).success).toBe(true);
      });

      it("deserializes with @azure/eventgrid too, and isSystemEvent agrees on the type", async () => {
        const [deserialized] = await new EventGridDeserializer().deserializeEventGridEvents(
          fixtureText(file),
        );
        if (deserialized === undefined) throw new Error("the SDK returned no event");
        expect(deserialized.id).toBe(expected.id);
        // What the SDK hands out (eventTime as a Date) parses to the same event.
        expect(parseRegistryEvents(deserialized, options).events).toEqual([
          { ...expected, source: "eventgrid" },
        ]);
        const info = acrEventTypeInfo(String(event.eventType));
        expect(info?.kind).toBe(expected.kind);
        // The SDK knows only the namespaced names; our bare-name alias is an addition.
        const namespaced = String(event.eventType).startsWith("Microsoft.");
        expect(isSystemEvent("Microsoft.ContainerRegistry.ImagePushed", deserialized)).toBe(
          namespaced && expected.kind === "push",
        );
      });
    });
  }
});

describe("CloudEvents fixture files", () => {
  const cases: ReadonlyArray<{ file: string; kinds: string[]; ids: string[] }> = [
    { file: "cloudevents/image_pushed.json", kinds: ["push"], ids: ["c25fdb80-ebbd-4dd0-a29c-a7349e6388f6"] },
    {
      file: "cloudevents/image_deleted.json",
      kinds: ["delete"],
      ids: ["6fdef14c-2594-41e8-9156-c0376eb0a190"],
    },
    {
      file: "cloudevents/image_pushed_actor_source_offset.json",
      kinds: ["push"],
      ids: ["e8d7c6b5-a4f3-4e2d-8c1b-0a9f8e7d6c5b"],
    },
    {
      file: "cloudevents/chart_pushed.json",
      kinds: ["chartPush"],
      ids: ["d1c2b3a4-9e8f-4d7c-b6a5-f4e3d2c1b0a9"],
    },
    {
      file: "cloudevents/chart_deleted.json",
      kinds: ["chartDelete"],
      ids: ["6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2e"],
    },
    {
      file: "cloudevents/batch.json",
      kinds: ["push", "push", "delete"],
      ids: [
        "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
        "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "a4e2b8c1-7f3d-4e6a-b5c9-2d8f1e0a3b74",
      ],
    },
  ];
  for (const { file, kinds, ids } of cases) {
    it(`${file} parses, and deserializes with deserializeCloudEvents`, async () => {
      const text = fixtureText(file);
      const result = parseCloudEvents(text, options);
      expect(result.rejected).toEqual([]);
      expect(result.events.map((event) => event.kind)).toEqual(kinds);
      expect(result.events.map((event) => event.id)).toEqual(ids);
      expect(result.events.every((event) => event.source === "cloudevents")).toBe(true);
      const deserialized = await new EventGridDeserializer().deserializeCloudEvents(text);
      expect(deserialized.map((event) => event.id)).toEqual(ids);
      expect(parseCloudEvents(deserialized, options).events).toEqual(result.events);
    });
  }

  it("accepts the published `specVersion` misspelling, which the SDK refuses", async () => {
    const text = fixtureText("cloudevents/image_pushed_specVersion_spelling.json");
    const result = parseRegistryEvents(text, options);
    expect(result.rejected).toEqual([]);
    expect(result.events).toHaveLength(1);
    expect(result.events[0]?.source).toBe("cloudevents");
    await expect(new EventGridDeserializer().deserializeCloudEvents(text)).rejects.toThrow(/specversion/);
  });

  it("the CloudEvents and Event Grid forms of the same action normalize identically but for the source", () => {
    const eventGrid = parseRegistryEvents(fixtureJson("eventgrid_image_pushed.json"), options).events;
    const cloud = parseRegistryEvents(fixtureJson("cloudevents/image_pushed.json"), options).events;
    expect(cloud.map((event) => ({ ...event, source: "eventgrid" }))).toEqual(eventGrid);
  });
});

describe("ACR webhook fixture files", () => {
  it.each([
    ["webhook/push.json", "push", "team-b/worker"],
    ["webhook/delete.json", "delete", "team-a/api"],
  ])("%s becomes a %s of %s", (file, kind, repository) => {
    const result = parseAcrWebhook(fixtureText(file), options);
    expect(result.rejected).toEqual([]);
    expect(result.events).toHaveLength(1);
    expect(result.events[0]).toMatchObject({ kind, repository, registry: CONTOSO, source: "acr-webhook" });
  });

  it("chart webhooks name no registry: they need a default registry, then they are recorded", () => {
    for (const [file, kind] of [
      ["webhook/chart_push.json", "chartPush"],
      ["webhook/chart_delete.json", "chartDelete"],
    ] as const) {
      const without = parseAcrWebhook(fixtureJson(file), options);
      expect(without.events).toEqual([]);
      expect(without.rejected[0]?.path).toBe("$.request.host");
      expect(without.rejected[0]?.message).toMatch(/names no registry/);

      const withDefault = parseAcrWebhook(fixtureJson(file), {
        ...options,
        defaultRegistry: "ContosoRegistry.azurecr.io",
      });
      expect(withDefault.rejected).toEqual([]);
      expect(withDefault.events[0]).toMatchObject({ kind, registry: CONTOSO, repository: "helm/ingress" });
    }
  });

  it("webhook pings are skipped with a reason, never recorded or rejected, with or without an id", () => {
    for (const unknownEventTypes of ["skip", "reject"] as const) {
      const result = parseAcrWebhook(
        JSON.stringify([
          { id: "ping-1", timestamp: "2026-11-27T10:00:00Z", action: "ping" },
          { action: "ping" },
        ]),
        { ...options, unknownEventTypes },
      );
      expect(result.events).toEqual([]);
      expect(result.rejected).toEqual([]);
      expect(result.skipped).toEqual([
        expect.objectContaining({
          eventId: "ping-1",
          eventType: "ping",
          reason: expect.stringMatching(/ping/),
        }),
        expect.objectContaining({ eventType: "ping", reason: expect.stringMatching(/ping/) }),
      ]);
    }
  });

  it("quarantine notifications are skipped with a reason, never recorded or rejected", () => {
    for (const unknownEventTypes of ["skip", "reject"] as const) {
      const result = parseAcrWebhook(fixtureJson("webhook/quarantine.json"), {
        ...options,
        unknownEventTypes,
      });
      expect(result.events).toEqual([]);
      expect(result.rejected).toEqual([]);
      expect(result.skipped).toEqual([
        expect.objectContaining({
          path: "$",
          eventType: "quarantine",
          reason: expect.stringMatching(/quarantine/),
        }),
      ]);
    }
  });
});

describe("batches and dead-letter blobs", () => {
  it("a mixed Event Grid batch: ACR events recorded in order, the foreign type skipped", () => {
    const result = parseRegistryEvents(fixtureText("eventgrid/batch_mixed.json"), options);
    expect(result.rejected).toEqual([]);
    expect(result.events.map((event) => [event.kind, event.tag, event.mediaType])).toEqual([
      ["push", undefined, "application/vnd.oci.image.manifest.v1+json"],
      ["push", "v1.4.2", "application/vnd.oci.image.index.v1+json"],
      ["delete", undefined, "application/vnd.docker.distribution.manifest.v2+json"],
      ["chartPush", "ingress-0.9.1.tgz", "application/vnd.acr.helm.chart"],
    ]);
    expect(result.skipped).toEqual([
      expect.objectContaining({ index: 4, path: "$[4]", eventType: "Microsoft.Storage.BlobCreated" }),
    ]);
  });

  it("the same batch under unknownEventTypes=reject rejects only the foreign event", () => {
    const result = parseRegistryEvents(fixtureJson("eventgrid/batch_mixed.json"), {
      ...options,
      unknownEventTypes: "reject",
    });
    expect(result.events).toHaveLength(4);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]).toMatchObject({ index: 4, path: "$[4].eventType" });
    expect(result.rejected[0]?.message).toMatch(/unknown event type "Microsoft.Storage.BlobCreated"/);
  });

  it("dead-letter blobs as a JSON array and as JSON lines give the same events", async () => {
    const array = parseRegistryEvents(fixtureText("deadletter/eventgrid_deadletter.json"), options);
    const lines = parseRegistryEvents(fixtureText("deadletter/eventgrid_deadletter.jsonl"), options);
    expect(array.rejected).toEqual([]);
    expect(array.events.map((event) => event.kind)).toEqual(["push", "delete", "push"]);
    expect(lines).toEqual(array);
    const deserialized = await new EventGridDeserializer().deserializeEventGridEvents(
      fixtureText("deadletter/eventgrid_deadletter.json"),
    );
    expect(deserialized).toHaveLength(3);
  });

  it("a CloudEvents dead-letter blob parses", async () => {
    const text = fixtureText("deadletter/cloudevents_deadletter.json");
    const result = parseRegistryEvents(text, options);
    expect(result.rejected).toEqual([]);
    expect(result.events).toEqual([expect.objectContaining({ kind: "push", source: "cloudevents" })]);
    await expect(new EventGridDeserializer().deserializeCloudEvents(text)).resolves.toHaveLength(1);
  });

  it("a subscription validation event in a delivery is skipped, whatever the unknown-type setting", () => {
    const result = parseRegistryEvents(fixtureJson("validation/subscription_validation.json"), {
      ...options,
      unknownEventTypes: "reject",
    });
    expect(result.rejected).toEqual([]);
    expect(result.skipped).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/validation/) }),
    ]);
  });
});
