import { beforeAll, describe, expect, it } from "vitest";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../../../shared/config/settings.js";
import { type CapturedRegistrations, captureRegistrations } from "../../helpers/functionRegistrations.js";

/** Every function of the app, as the Functions host would see it registered (no host needed). */

let host: CapturedRegistrations;
beforeAll(async () => {
  host = await captureRegistrations(async () => {
    await import("../../../functions/ingestRegistryEvents.js");
    await import("../../../functions/onRegistryEvent.js");
    await import("../../../functions/registryWebhook.js");
    await import("../../../functions/enforceRetention.js");
    await import("../../../functions/retentionPreview.js");
    await import("../../../functions/sweep.js");
    await import("../../../functions/reconcileRepository.js");
  });
});

describe("function registrations", () => {
  it("registers exactly the app's functions, the runtime modules none", () => {
    expect(host.all.map((registration) => registration.name).sort()).toEqual([
      "enforceRetention",
      "ingestRegistryEvents",
      "onRegistryEvent",
      "reconcileRepository",
      "registryWebhook",
      "retentionPreview",
      "sweep",
    ]);
  });

  it("reads each queue through the ACR_STEWARD_STORAGE connection", () => {
    const queues: Record<string, string> = {
      ingestRegistryEvents: QUEUE_NAMES.registryEvents,
      enforceRetention: QUEUE_NAMES.retentionRequests,
      reconcileRepository: QUEUE_NAMES.reconcileRequests,
    };
    for (const [name, queueName] of Object.entries(queues)) {
      expect(host.trigger(name), name).toMatchObject({
        type: "queueTrigger",
        direction: "in",
        queueName,
        connection: STORAGE_CONNECTION,
      });
    }
    expect(QUEUE_NAMES).toMatchObject({
      registryEvents: "registry-events",
      retentionRequests: "retention-requests",
      reconcileRequests: "reconcile-requests",
    });
    expect(STORAGE_CONNECTION).toBe("ACR_STEWARD_STORAGE");
  });

  it("registers the Event Grid trigger", () => {
    expect(host.trigger("onRegistryEvent")).toMatchObject({ type: "eventGridTrigger", direction: "in" });
  });

  it("runs the sweep on the schedule from settings", () => {
    expect(host.trigger("sweep")).toMatchObject({
      type: "timerTrigger",
      schedule: "%ACR_STEWARD_SWEEP_SCHEDULE%",
    });
  });

  it("registers the webhook as an HTTP trigger behind a function key, for POST and OPTIONS", () => {
    const http = host.trigger("registryWebhook");
    expect(http).toMatchObject({ type: "httpTrigger", authLevel: "function", route: "registry-webhook" });
    expect([...(http.methods ?? [])].sort()).toEqual(["OPTIONS", "POST"]);
  });

  it("registers the preview as GET /api/retention/preview behind a function key", () => {
    expect(host.trigger("retentionPreview")).toMatchObject({
      type: "httpTrigger",
      authLevel: "function",
      route: "retention/preview",
      methods: ["GET"],
    });
  });

  it("leaves no HTTP endpoint anonymous", () => {
    const http = host.all
      .map((registration) => host.trigger(registration.name))
      .filter((binding) => binding.type === "httpTrigger");
    expect(http.length).toBeGreaterThan(0);
    for (const binding of http) expect(binding.authLevel).not.toBe("anonymous");
  });
});
