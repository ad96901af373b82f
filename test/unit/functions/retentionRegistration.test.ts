import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../../../shared/config/settings.js";

/**
 * What the Functions host is told about the retention functions. `@azure/functions` registers through
 * the host-provided module `@azure/functions-core`, required on the first `app.*` call; a stand-in
 * for that module, installed before the function files load, captures each registration's metadata.
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
  await import("../../../functions/enforceRetention.js");
  await import("../../../functions/retentionPreview.js");
  await import("../../../functions/composition.js");
});

function trigger(name: string): Binding {
  const registration = registrations.find((candidate) => candidate.name === name);
  if (!registration) throw new Error(`${name} was not registered (got ${registrations.map((r) => r.name)})`);
  const triggers = Object.values(registration.bindings).filter((binding) => binding.type.endsWith("Trigger"));
  expect(triggers).toHaveLength(1);
  return triggers[0] as Binding;
}

describe("retention function registrations", () => {
  it("registers enforceRetention as a queue trigger on retention-requests through ACR_STEWARD_STORAGE", () => {
    expect(trigger("enforceRetention")).toMatchObject({
      type: "queueTrigger",
      direction: "in",
      queueName: QUEUE_NAMES.retentionRequests,
      connection: STORAGE_CONNECTION,
    });
    expect(QUEUE_NAMES.retentionRequests).toBe("retention-requests");
  });

  it("registers the preview as GET /api/retention/preview behind a function key", () => {
    expect(trigger("retentionPreview")).toMatchObject({
      type: "httpTrigger",
      authLevel: "function",
      route: "retention/preview",
      methods: ["GET"],
    });
  });

  it("registers nothing else (the runtime module registers no function)", () => {
    expect(registrations.map((registration) => registration.name).sort()).toEqual([
      "enforceRetention",
      "retentionPreview",
    ]);
  });
});
