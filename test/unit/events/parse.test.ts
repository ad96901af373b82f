import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { ValidationError } from "../../../shared/errors/index.js";
import {
  assertNoRejections,
  EventParseError,
  formatJsonPath,
  type ParseRegistryEventsOptions,
  parseDeadLetterBlob,
  parseEventGridEvents,
  parseRegistryEvents,
} from "../../../shared/events/index.js";
import { CONTOSO, fixtureJson, fixtureText, toCloudEvent } from "./fixtureFiles.js";

type Json = Record<string, unknown> & { data: Record<string, unknown> & { target: Record<string, unknown> } };

const options: ParseRegistryEventsOptions = {
  allowedRegistries: new Set([CONTOSO]),
  unknownEventTypes: "skip",
};

function push(): Json {
  return structuredClone(fixtureJson("eventgrid/image_pushed_v1.json")) as Json;
}
function chartPush(): Json {
  return structuredClone(fixtureJson("eventgrid/chart_pushed.json")) as Json;
}
function request(event: Json): Record<string, unknown> {
  return event.data.request as Record<string, unknown>;
}

describe("the registry comes from the allow-list, never from the payload", () => {
  it("rejects an event whose request.host is not allowed, and keeps the rest of the batch", () => {
    const foreign = push();
    request(foreign).host = "attacker.example.com";
    const result = parseRegistryEvents([push(), foreign, push()], options);
    expect(result.events).toHaveLength(2);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]).toMatchObject({ index: 1, path: "$[1].data.request.host" });
    expect(result.rejected[0]?.message).toContain('registry "attacker.example.com" is not in the allow-list');
    expect(result.rejected[0]?.message).toContain(CONTOSO);
  });

  it("compares hosts case-insensitively and ignores the https default port", () => {
    const upper = push();
    request(upper).host = "ContosoRegistry.AzureCR.io:443";
    const result = parseRegistryEvents(upper, {
      ...options,
      allowedRegistries: new Set(["CONTOSOREGISTRY.azurecr.io"]),
    });
    expect(result.rejected).toEqual([]);
    expect(result.events[0]?.registry).toBe(CONTOSO);
  });

  it("treats another port as another registry", () => {
    const other = push();
    request(other).host = `${CONTOSO}:5000`;
    expect(parseRegistryEvents(other, options).rejected[0]?.path).toBe("$.data.request.host");
  });

  it("rejects everything when the allow-list is empty, saying so", () => {
    const result = parseRegistryEvents(push(), { ...options, allowedRegistries: new Set() });
    expect(result.rejected[0]?.message).toMatch(/allow-list is empty/);
  });

  it("rejects a malformed host before looking it up", () => {
    const odd = push();
    request(odd).host = "evil.com/path?x=1";
    const result = parseRegistryEvents(odd, options);
    expect(result.rejected[0]?.path).toBe("$.data.request.host");
    expect(result.rejected[0]?.message).toMatch(/login server/);
  });

  it("uses the host even when the topic names another registry (the host is what clients used)", () => {
    const event = push();
    event.topic =
      "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/emulator";
    expect(parseRegistryEvents(event, options).events[0]?.registry).toBe(CONTOSO);
  });

  it("chart events (no request) take the registry from the topic's resource name", () => {
    const result = parseRegistryEvents(chartPush(), options);
    expect(result.rejected).toEqual([]);
    expect(result.events[0]?.registry).toBe(CONTOSO);
  });

  it("chart events whose topic names an unlisted registry are rejected at the topic", () => {
    const event = chartPush();
    event.topic =
      "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/fabrikam";
    const result = parseRegistryEvents(event, { ...options, defaultRegistry: CONTOSO });
    expect(result.rejected[0]?.path).toBe("$.topic");
    expect(result.rejected[0]?.message).toMatch(/registry "fabrikam" matches no allowed login server/);
  });

  it("refuses to guess between several login servers with the registry's name", () => {
    const result = parseRegistryEvents(chartPush(), {
      ...options,
      allowedRegistries: new Set([CONTOSO, "contosoregistry.azurecr.cn"]),
    });
    expect(result.rejected[0]?.message).toMatch(/matches several allowed login servers/);
  });

  it("a default registry stands in for a topic name only with ACR's domain-name-label hash suffix", () => {
    const hashed = "contosoregistry-f3bdcxbwhdgqe2d0.azurecr.io";
    const result = parseRegistryEvents(chartPush(), {
      ...options,
      allowedRegistries: new Set([hashed]),
      defaultRegistry: hashed,
    });
    expect(result.rejected).toEqual([]);
    expect(result.events[0]?.registry).toBe(hashed);
  });

  it("a default registry must itself be allowed", () => {
    const event = chartPush();
    delete event.topic;
    const result = parseRegistryEvents(event, { ...options, defaultRegistry: "other.azurecr.io" });
    expect(result.rejected[0]?.message).toMatch(
      /default registry "other.azurecr.io" is not in the allow-list/,
    );
  });
});

describe("event types", () => {
  it("skips or rejects unknown types by configuration", () => {
    const foreign = { ...push(), eventType: "Microsoft.ContainerRegistry.ImageQuarantined" };
    const skipped = parseRegistryEvents([foreign], options);
    expect(skipped.events).toEqual([]);
    expect(skipped.rejected).toEqual([]);
    expect(skipped.skipped).toEqual([
      {
        index: 0,
        path: "$[0]",
        reason: 'unknown event type "Microsoft.ContainerRegistry.ImageQuarantined"',
        eventId: "0b7c4f0e-6d2a-4a51-9a36-1f0e8d2b3c41",
        eventType: foreign.eventType,
      },
    ]);
    const rejected = parseRegistryEvents([foreign], { ...options, unknownEventTypes: "reject" });
    expect(rejected.skipped).toEqual([]);
    expect(rejected.rejected[0]).toMatchObject({
      path: "$[0].eventType",
      eventId: "0b7c4f0e-6d2a-4a51-9a36-1f0e8d2b3c41",
    });
    expect(rejected.rejected[0]?.error).toBeInstanceOf(EventParseError);
  });

  it("does not validate the payload of a type it skips", () => {
    const foreign = { ...push(), eventType: "Contoso.Custom", data: "anything" };
    expect(parseRegistryEvents(foreign, options).skipped).toHaveLength(1);
  });

  it("rejects an event whose data.action contradicts its type", () => {
    const event = push();
    event.data.action = "delete";
    const result = parseRegistryEvents(event, options);
    expect(result.rejected[0]?.path).toBe("$.data.action");
    expect(result.rejected[0]?.message).toMatch(/must be "push"/);
  });

  it("records chart events by default and skips them with a reason on request", () => {
    expect(parseRegistryEvents(chartPush(), options).events[0]?.kind).toBe("chartPush");
    const skipped = parseRegistryEvents(chartPush(), { ...options, charts: "skip" });
    expect(skipped.events).toEqual([]);
    expect(skipped.skipped[0]?.reason).toMatch(/chart/);
  });

  it("rejects events of a shape other than the expected one", () => {
    const result = parseEventGridEvents([toCloudEvent(push())], options);
    expect(result.rejected[0]?.message).toBe("expected an Event Grid event but this is a CloudEvent");
  });
});

describe("strict where it matters", () => {
  const cases: ReadonlyArray<[string, (event: Json) => void, string, RegExp]> = [
    [
      "an upper-case repository",
      (e) => {
        e.data.target.repository = "Team-A/api";
      },
      "$.data.target.repository",
      /lowercase/,
    ],
    [
      "a tag with a slash",
      (e) => {
        e.data.target.tag = "v1/2";
      },
      "$.data.target.tag",
      /tag/,
    ],
    [
      "an upper-case digest",
      (e) => {
        e.data.target.digest = String(e.data.target.digest).toUpperCase();
      },
      "$.data.target.digest",
      /digest/,
    ],
    [
      "an unknown digest algorithm",
      (e) => {
        e.data.target.digest = "md5:0123";
      },
      "$.data.target.digest",
      /digest/,
    ],
    [
      "an empty event id",
      (e) => {
        e.id = "";
      },
      "$.id",
      /must not be empty/,
    ],
    [
      "an empty data id",
      (e) => {
        e.data.id = "";
      },
      "$.data.id",
      /must not be empty/,
    ],
    [
      "a negative size",
      (e) => {
        e.data.target.size = -1;
      },
      "$.data.target.size",
      /negative/,
    ],
    [
      "a fractional size",
      (e) => {
        e.data.target.size = 1.5;
      },
      "$.data.target.size",
      /whole number/,
    ],
    [
      "a size given as text",
      (e) => {
        e.data.target.size = "1578";
      },
      "$.data.target.size",
      /expected number/,
    ],
    [
      "a missing target",
      (e) => {
        Reflect.deleteProperty(e.data, "target");
      },
      "$.data.target",
      /required/,
    ],
    [
      "a missing media type",
      (e) => {
        delete e.data.target.mediaType;
      },
      "$.data.target.mediaType",
      /required/,
    ],
    [
      "metadataVersion 2",
      (e) => {
        e.metadataVersion = "2";
      },
      "$.metadataVersion",
      /must be "1"/,
    ],
    [
      "data that is not an object",
      (e) => {
        e.data = "text" as never;
      },
      "$.data",
      /no data object/,
    ],
  ];
  for (const [what, mutate, path, message] of cases) {
    it(`rejects ${what} at ${path}`, () => {
      const event = push();
      mutate(event);
      const result = parseRegistryEvents(event, options);
      expect(result.events).toEqual([]);
      expect(result.rejected[0]?.path).toBe(path);
      expect(result.rejected[0]?.message).toMatch(message);
    });
  }

  it("shows the offending value in the message", () => {
    const event = push();
    event.data.target.digest = "sha256:nothex";
    expect(parseRegistryEvents(event, options).rejected[0]?.message).toContain('(got "sha256:nothex")');
  });

  it("lists every problem of an event, each with its path", () => {
    const event = push();
    event.data.target.repository = "UPPER";
    event.data.target.tag = "-bad";
    const [rejection] = parseRegistryEvents([event], options).rejected;
    expect(rejection?.path).toBe("$[0].data.target.repository");
    expect(rejection?.message).toContain("$[0].data.target.tag:");
    expect(rejection?.error.issues.map((issue) => issue.path)).toEqual([
      "$[0].data.target.repository",
      "$[0].data.target.tag",
    ]);
  });

  it("accepts sha512 digests", () => {
    const event = push();
    event.data.target.digest = `sha512:${"ab".repeat(64)}`;
    expect(parseRegistryEvents(event, options).events[0]?.digest).toBe(`sha512:${"ab".repeat(64)}`);
  });
});

describe("lenient where the service is inconsistent", () => {
  it("treats empty or null optional fields as absent", () => {
    const event = push();
    event.data.target.tag = "";
    event.data.actor = null;
    request(event).useragent = null;
    event.data.location = "";
    const [normalized] = parseRegistryEvents(event, options).events;
    expect(normalized).toBeDefined();
    expect(normalized?.tag).toBeUndefined();
    expect(normalized?.actor).toBeUndefined();
    expect(normalized?.userAgent).toBeUndefined();
    expect(normalized?.location).toBeUndefined();
  });

  it("needs neither topic, subject, dataVersion, metadataVersion nor eventTime", () => {
    const event = push();
    for (const key of ["topic", "subject", "dataVersion", "metadataVersion", "eventTime"]) delete event[key];
    expect(parseRegistryEvents(event, options).events).toHaveLength(1);
  });

  it("keeps unknown fields of newer payloads without complaint", () => {
    const event = push();
    event.data.target.artifactType = "application/vnd.example.sbom";
    event.data.newBlock = { anything: true };
    expect(parseRegistryEvents(event, options).rejected).toEqual([]);
  });

  it("uses length when a push carries no size", () => {
    const event = push();
    delete event.data.target.size;
    expect(parseRegistryEvents(event, options).events[0]?.size).toBe(1578);
  });

  it("accepts CloudEvents whose data comes as data_base64", () => {
    const cloud = toCloudEvent(push());
    const data = cloud.data;
    delete cloud.data;
    cloud.data_base64 = Buffer.from(JSON.stringify(data)).toString("base64");
    expect(parseRegistryEvents(cloud, options).events).toHaveLength(1);
  });
});

describe("time", () => {
  it("prefers data.timestamp (when the registry acted) over eventTime (when Event Grid published)", () => {
    const event = push();
    event.eventTime = "2026-03-02T09:20:00Z";
    event.data.timestamp = "2026-03-02T10:15:27.5+01:00";
    expect(parseRegistryEvents(event, options).events[0]?.occurredAt).toBe("2026-03-02T09:15:27.500000000Z");
  });

  it("falls back to eventTime, then CloudEvents time, when data.timestamp is absent", () => {
    const event = push();
    delete event.data.timestamp;
    event.eventTime = "2026-03-02T09:20:00-05:00";
    expect(parseRegistryEvents(event, options).events[0]?.occurredAt).toBe("2026-03-02T14:20:00.000000000Z");
    const cloud = toCloudEvent(event);
    cloud.time = "2026-03-02T09:21:00Z";
    expect(parseRegistryEvents(cloud, options).events[0]?.occurredAt).toBe("2026-03-02T09:21:00.000000000Z");
  });

  it("rejects an event with no usable time, at the field that should have it", () => {
    const event = push();
    delete event.data.timestamp;
    delete event.eventTime;
    expect(parseRegistryEvents(event, options).rejected[0]?.path).toBe("$.data.timestamp");
    event.eventTime = "019-03-12T22:42:08.7034064Z";
    expect(parseRegistryEvents(event, options).rejected[0]?.path).toBe("$.eventTime");
  });

  it("rejects timestamps without an offset rather than guessing the zone", () => {
    const event = push();
    event.data.timestamp = "2026-03-02T09:15:27.5";
    const [rejection] = parseRegistryEvents(event, options).rejected;
    expect(rejection?.path).toBe("$.data.timestamp");
    expect(rejection?.message).toMatch(/UTC offset/);
  });

  it("with a clock, rejects events stamped too far in the future", () => {
    const event = push();
    const now = new Date("2026-03-02T08:00:00Z");
    const result = parseRegistryEvents(event, { ...options, now });
    expect(result.rejected[0]?.path).toBe("$.data.timestamp");
    expect(result.rejected[0]?.message).toMatch(/in the future/);
    expect(
      parseRegistryEvents(event, { ...options, now, maxFutureSkewMs: 2 * 3600_000 }).events,
    ).toHaveLength(1);
  });
});

describe("deliveries", () => {
  it("accepts a base64 storage-queue message", () => {
    const message = Buffer.from(JSON.stringify(push())).toString("base64");
    expect(parseRegistryEvents(message, options).events).toHaveLength(1);
  });

  it("accepts bytes", () => {
    const bytes = new TextEncoder().encode(JSON.stringify([push()]));
    expect(parseRegistryEvents(bytes, options).events).toHaveLength(1);
  });

  it("JSON lines: a broken line is rejected with its line number, the others are parsed", () => {
    const lines = fixtureText("deadletter/eventgrid_deadletter.jsonl").split("\n");
    lines.splice(1, 0, "{not json", "");
    const result = parseDeadLetterBlob(lines.join("\n"), options);
    expect(result.events).toHaveLength(3);
    expect(result.rejected).toEqual([
      expect.objectContaining({
        index: 1,
        line: 2,
        path: "$[1]",
        message: expect.stringMatching(/line 2 is not JSON/),
      }),
    ]);
  });

  it.each([
    ["an empty string", "", "$", /empty/],
    ["text that is not JSON", "hello", "$", /not JSON/],
    ["a number", 42, "$", /expected an event object, got number/],
    ["null", null, "$", /got null/],
    ["a nested array", [[push()]], "$[0]", /got an array/],
    ["an object of no known shape", { hello: "world" }, "$", /not an Event Grid event/],
  ])("rejects %s without throwing", (_what, body, path, message) => {
    const result = parseRegistryEvents(body, options);
    expect(result.events).toEqual([]);
    expect(result.rejected[0]?.path).toBe(path);
    expect(result.rejected[0]?.message).toMatch(message);
  });

  it("an empty batch is nothing to do", () => {
    expect(parseRegistryEvents([], options)).toEqual({ events: [], rejected: [], skipped: [] });
  });
});

describe("EventParseError", () => {
  it("is a ValidationError that keeps the ZodError as its cause and re-rooted paths", () => {
    const event = push();
    event.data.target.digest = "nope";
    const [rejection] = parseRegistryEvents([push(), event], options).rejected;
    const error = rejection?.error;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.cause).toBeInstanceOf(ZodError);
    expect(error?.path).toBe("$[1].data.target.digest");
    expect(error?.message).toMatch(/^\$\[1\]\.data\.target\.digest: /);
  });

  it("assertNoRejections throws one error naming every rejected event", () => {
    const bad = push();
    bad.data.target.repository = "BAD";
    const result = parseRegistryEvents([bad, push(), bad], options);
    expect(() => assertNoRejections(result)).toThrow(EventParseError);
    try {
      assertNoRejections(result);
    } catch (error) {
      expect((error as EventParseError).issues.map((issue) => issue.path)).toEqual([
        "$[0].data.target.repository",
        "$[2].data.target.repository",
      ]);
    }
    expect(() => assertNoRejections(parseRegistryEvents(push(), options))).not.toThrow();
  });

  it("formats JSON paths with brackets for keys that are not identifiers", () => {
    expect(formatJsonPath([3, "data", "target", "digest"])).toBe("$[3].data.target.digest");
    expect(formatJsonPath(["odd key", 0])).toBe('$["odd key"][0]');
  });
});

describe("broken documents", () => {
  it("a broken pretty-printed document is one rejection, not one per line", () => {
    const text = fixtureText("eventgrid/batch_mixed.json").replace('"action": "push"', '"action": push');
    const result = parseRegistryEvents(text, options);
    expect(result.events).toEqual([]);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]).toMatchObject({
      path: "$",
      message: expect.stringMatching(/^the delivery is not JSON/),
    });
  });
});

describe("Event Grid's own events", () => {
  it("are skipped even when unknown types are rejected", () => {
    const deleted = {
      id: "d-1",
      topic:
        "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/contosoregistry",
      subject: "",
      eventType: "Microsoft.EventGrid.SubscriptionDeletedEvent",
      eventTime: "2026-03-01T00:00:00Z",
      data: { eventSubscriptionId: "/subscriptions/x/…/eventSubscriptions/acr-steward" },
      dataVersion: "1",
      metadataVersion: "1",
    };
    const result = parseRegistryEvents([deleted], { ...options, unknownEventTypes: "reject" });
    expect(result.rejected).toEqual([]);
    expect(result.skipped[0]?.reason).toMatch(/Event Grid lifecycle event/);
  });
});
