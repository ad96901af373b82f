import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../../../shared/config/settings.js";

/**
 * What the Functions host would be told: `@azure/functions` registers through the host-provided
 * module `@azure/functions-core`, which it requires on the first `app.*` call. Standing in for that
 * module (before any function file loads) captures each registration's metadata.
 */

interface Binding {
  readonly type: string;
  readonly direction: string;
  readonly queueName?: string;
  readonly connection?: string;
  readonly authLevel?: string;
  readonly methods?: readonly string[];
  readonly route?: string;
}

interface Registration {
  readonly name: string;
  readonly bindings: Readonly<Record<string, Binding>>;
}

const registrations: Registration[] = [];

const coreStub = {
  version: "stub",
  hostVersion: "4.99.0",
  setProgrammingModel() {},
  registerFunction(metadata: Registration) {
    registrations.push(metadata);
    return { dispose() {} };
  },
  registerHook() {
    return { dispose() {} };
  },
  getProgrammingModel() {
    return undefined;
  },
};

type ModuleLoad = (request: string, parent: unknown, isMain: boolean) => unknown;

beforeAll(async () => {
  const Module = createRequire(import.meta.url)("node:module") as { _load: ModuleLoad };
  const load = Module._load;
  Module._load = function loadWithCoreStub(this: unknown, request, parent, isMain) {
    if (request === "@azure/functions-core") return coreStub;
    return load.call(this, request, parent, isMain);
  };
  await import("../../../functions/ingestRegistryEvents.js");
  await import("../../../functions/onRegistryEvent.js");
  await import("../../../functions/registryWebhook.js");
});

function trigger(name: string): Binding {
  const registration = registrations.find((candidate) => candidate.name === name);
  if (!registration) throw new Error(`${name} was not registered (got ${registrations.map((r) => r.name)})`);
  const triggers = Object.values(registration.bindings).filter((binding) => binding.type.endsWith("Trigger"));
  expect(triggers).toHaveLength(1);
  return triggers[0] as Binding;
}

describe("function registrations", () => {
  it("registers the queue trigger on registry-events through the ACR_STEWARD_STORAGE connection", () => {
    expect(trigger("ingestRegistryEvents")).toMatchObject({
      type: "queueTrigger",
      direction: "in",
      queueName: QUEUE_NAMES.registryEvents,
      connection: STORAGE_CONNECTION,
    });
    expect(QUEUE_NAMES.registryEvents).toBe("registry-events");
    expect(STORAGE_CONNECTION).toBe("ACR_STEWARD_STORAGE");
  });

  it("registers the Event Grid trigger", () => {
    expect(trigger("onRegistryEvent")).toMatchObject({ type: "eventGridTrigger", direction: "in" });
  });

  it("registers the webhook as an HTTP trigger behind a function key, for POST and OPTIONS", () => {
    const http = trigger("registryWebhook");
    expect(http).toMatchObject({ type: "httpTrigger", authLevel: "function", route: "registry-webhook" });
    expect([...(http.methods ?? [])].sort()).toEqual(["OPTIONS", "POST"]);
  });

  it("registers nothing else from these files", () => {
    expect(registrations.map((registration) => registration.name).sort()).toEqual([
      "ingestRegistryEvents",
      "onRegistryEvent",
      "registryWebhook",
    ]);
  });
});
