import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../../../shared/config/settings.js";

/**
 * What the Functions host is told about the sweep functions: `@azure/functions` registers through
 * the host-provided `@azure/functions-core`, stood in for here before the function files load.
 */

interface Registration {
  readonly name: string;
  readonly bindings: Readonly<Record<string, Record<string, unknown>>>;
}

const registrations: Registration[] = [];

beforeAll(async () => {
  const Module = createRequire(import.meta.url)("node:module") as {
    _load: (request: string, parent: unknown, isMain: boolean) => unknown;
  };
  const load = Module._load;
  Module._load = function loadWithCoreStub(this: unknown, request, parent, isMain) {
    if (request === "@azure/functions-core") {
      return {
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
    }
    return load.call(this, request, parent, isMain);
  };
  await import("../../../functions/sweep.js");
  await import("../../../functions/reconcileRepository.js");
});

function trigger(name: string): Record<string, unknown> {
  const registration = registrations.find((candidate) => candidate.name === name);
  if (!registration) throw new Error(`${name} was not registered (got ${registrations.map((r) => r.name)})`);
  const binding = Object.values(registration.bindings).find((b) => b.direction === "in");
  if (!binding) throw new Error(`${name} has no trigger`);
  return binding;
}

describe("sweep function registrations", () => {
  it("the timer runs on the schedule from settings", () => {
    expect(trigger("sweep")).toMatchObject({
      type: "timerTrigger",
      schedule: "%ACR_STEWARD_SWEEP_SCHEDULE%",
    });
  });

  it("the reconcile trigger reads reconcile-requests with the storage connection", () => {
    expect(trigger("reconcileRepository")).toMatchObject({
      type: "queueTrigger",
      queueName: QUEUE_NAMES.reconcileRequests,
      connection: STORAGE_CONNECTION,
    });
  });
});
