import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  classifyWebhookRequest,
  type ParseRegistryEventsOptions,
  type ParseRegistryEventsResult,
  parseRegistryEvents,
  RegistryEventSchema,
} from "../../../shared/events/index.js";
import { CONTOSO, fixtureJson, JOLOV, toCloudEvent, toWebhookBody } from "./fixtureFiles.js";

/**
 * Property-based checks: whatever arrives, the parser returns (never throws), accounts for every
 * event exactly once, and everything it accepts is a valid RegistryEvent on an allowed registry.
 */

const ALLOWED = new Set([CONTOSO, JOLOV]);
const OPTIONS: ParseRegistryEventsOptions = { allowedRegistries: ALLOWED, unknownEventTypes: "skip" };
const JSON_PATH = /^\$(?:\[\d+\]|\.[A-Za-z_$][A-Za-z0-9_$]*|\["(?:[^"\\]|\\.)*"\])*$/;

function checkInvariants(result: ParseRegistryEventsResult, itemCount: number | undefined): void {
  if (itemCount !== undefined) {
    expect(result.events.length + result.rejected.length + result.skipped.length).toBe(itemCount);
  }
  for (const event of result.events) {
    expect(RegistryEventSchema.safeParse(event).success).toBe(true);
    expect(ALLOWED.has(event.registry)).toBe(true);
  }
  for (const rejection of result.rejected) {
    expect(rejection.path).toMatch(JSON_PATH);
    expect(rejection.message.length).toBeGreaterThan(0);
    expect(rejection.error.path).toBe(rejection.path);
  }
  for (const skipped of result.skipped) {
    expect(skipped.path).toMatch(JSON_PATH);
    expect(skipped.reason.length).toBeGreaterThan(0);
  }
}

function itemCountOf(body: unknown): number {
  return Array.isArray(body) ? body.length : 1;
}

const eventGridSamples = [
  "eventgrid_image_pushed.json",
  "eventgrid_image_deleted.json",
  "eventgrid/image_pushed_v1.json",
  "eventgrid/image_deleted_v1.json",
  "eventgrid/image_pushed_actor_source_offset.json",
  "eventgrid/chart_pushed.json",
  "eventgrid/chart_deleted_broken_event_time.json",
].map((file) => fixtureJson(file) as Record<string, unknown>);

const samples: unknown[] = [
  ...eventGridSamples,
  ...eventGridSamples.map(toCloudEvent),
  ...eventGridSamples.map(toWebhookBody),
  fixtureJson("webhook/quarantine.json"),
  ...(fixtureJson("validation/subscription_validation.json") as unknown[]),
];

type JsonPath = (string | number)[];

function pathsOf(value: unknown, prefix: JsonPath = []): JsonPath[] {
  const here = [prefix];
  if (Array.isArray(value))
    return here.concat(value.flatMap((item, index) => pathsOf(item, [...prefix, index])));
  if (typeof value === "object" && value !== null) {
    return here.concat(Object.entries(value).flatMap(([key, item]) => pathsOf(item, [...prefix, key])));
  }
  return here;
}

type Mutation =
  | { kind: "replace"; value: unknown }
  | { kind: "delete" }
  | { kind: "append"; text: string }
  | { kind: "upper" }
  | { kind: "empty" };

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.constant({ kind: "delete" as const }),
  fc.record({ kind: fc.constant("append" as const), text: fc.string({ maxLength: 4, unit: "binary" }) }),
  fc.constant({ kind: "upper" as const }),
  fc.constant({ kind: "empty" as const }),
);

function mutate(root: unknown, path: JsonPath, mutation: Mutation): unknown {
  if (path.length === 0)
    return mutation.kind === "replace" ? mutation.value : mutation.kind === "delete" ? {} : root;
  const copy = structuredClone(root);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  const current = parent[last];
  switch (mutation.kind) {
    case "replace":
      parent[last] = mutation.value;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      break;
    case "append":
      parent[last] = typeof current === "string" ? current + mutation.text : mutation.text;
      break;
    case "upper":
      parent[last] = typeof current === "string" ? current.toUpperCase() : current;
      break;
    case "empty":
      parent[last] = typeof current === "string" ? "" : Array.isArray(current) ? [] : {};
      break;
  }
  return copy;
}

const mutatedEventArbitrary = fc
  .record({
    sample: fc.constantFrom(...samples),
    mutations: fc.array(fc.tuple(fc.nat(), mutationArbitrary), { minLength: 1, maxLength: 3 }),
  })
  .map(({ sample, mutations }) => {
    let value = sample;
    for (const [pick, mutation] of mutations) {
      const paths = pathsOf(value);
      value = mutate(value, paths[pick % paths.length] ?? [], mutation);
    }
    return value;
  });

describe("parser fuzzing", () => {
  it("random JSON never throws and every item is accounted for", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (body) => {
        const result = parseRegistryEvents(body, OPTIONS);
        checkInvariants(result, itemCountOf(body));
      }),
      { numRuns: 400 },
    );
  });

  it("random text and bytes never throw", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.uint8Array({ maxLength: 200 })), (body) => {
        checkInvariants(parseRegistryEvents(body, OPTIONS), undefined);
      }),
      { numRuns: 300 },
    );
  });

  it("every mutation of a real event is parsed into a valid RegistryEvent or rejected with a path", () => {
    fc.assert(
      fc.property(
        fc.array(mutatedEventArbitrary, { minLength: 1, maxLength: 4 }),
        fc.constantFrom("skip" as const, "reject" as const),
        (batch, unknownEventTypes) => {
          const result = parseRegistryEvents(batch, {
            ...OPTIONS,
            unknownEventTypes,
            defaultRegistry: CONTOSO,
          });
          checkInvariants(result, batch.length);
          // As text (what a webhook or a blob delivers) the outcome is the same.
          expect(
            parseRegistryEvents(JSON.stringify(batch), {
              ...OPTIONS,
              unknownEventTypes,
              defaultRegistry: CONTOSO,
            }),
          ).toEqual(result);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("no mutation of request.host can steer an event to a registry outside the allow-list", () => {
    const hostArbitrary = fc.oneof(
      fc.domain(),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom(`${CONTOSO}.attacker.io`, `attacker.io/${CONTOSO}`, `${CONTOSO}@evil`, `${CONTOSO}:80`),
    );
    fc.assert(
      fc.property(fc.constantFrom(...eventGridSamples.slice(0, 5)), hostArbitrary, (sample, host) => {
        const event = structuredClone(sample) as { data: { request: { host: unknown } } };
        event.data.request.host = host;
        const result = parseRegistryEvents(event, OPTIONS);
        checkInvariants(result, 1);
        // An empty host counts as absent: the registry then comes from the topic (still allow-listed).
        for (const parsed of result.events) {
          if (host !== "") expect(parsed.registry).toBe(host.toLowerCase().replace(/:443$/, ""));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("classifyWebhookRequest never throws and always answers a known kind", () => {
    const kinds = new Set([
      "eventgrid-validation",
      "cloudevents-handshake",
      "eventgrid-events",
      "cloudevents",
      "acr-webhook",
      "invalid",
    ]);
    fc.assert(
      fc.property(
        fc.constantFrom("POST", "OPTIONS", "GET", "PUT", "post"),
        fc.dictionary(
          fc.constantFrom(
            "content-type",
            "aeg-event-type",
            "webhook-request-origin",
            "ce-specversion",
            "x-other",
          ),
          fc.string({ maxLength: 30 }),
        ),
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string(), mutatedEventArbitrary, fc.constant(undefined)),
        (method, headers, body) => {
          const classification = classifyWebhookRequest({ method, headers, body });
          expect(kinds.has(classification.kind)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });
});
