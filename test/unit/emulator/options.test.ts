import { describe, expect, it } from "vitest";
import { emulatorOptionsFromFlags } from "../../../cli/commands/emulator.js";
import { FaultInjector, seededRandom } from "../../../emulator/faults.js";
import { FailRateFlagSchema, RateLimitFlagSchema, SeedFlagSchema } from "../../../emulator/options.js";

describe("emulator flags", () => {
  it("parses the compact spellings", () => {
    expect(SeedFlagSchema.parse("demo")).toEqual({ kind: "demo" });
    expect(SeedFlagSchema.parse("synthetic:repos=100,manifests=1000")).toEqual({
      kind: "synthetic",
      repos: 100,
      manifests: 1000,
    });
    expect(FailRateFlagSchema.parse("429=0.05,500=0.02")).toEqual({ "429": 0.05, "500": 0.02 });
    expect(RateLimitFlagSchema.parse("reads=1000,writes=100,deletes=50")).toEqual({
      reads: 1000,
      writes: 100,
      deletes: 50,
    });
  });

  it.each([
    ["seed", "synthetic:repos=0,manifests=1"],
    ["seed", "synthetic:repos=1"],
    ["seed", "synthetic:repos=1,manifests=2,extra=3"],
    ["seed", "nonsense"],
    ["failRate", "429=1.5"],
    ["failRate", "503=0.1"],
    ["failRate", "429=0.7,500=0.7"],
    ["failRate", "429"],
    ["rateLimit", "reads=0"],
    ["rateLimit", "reads=1,reads=2"],
    ["port", "70000"],
    ["port", "-1"],
    ["latencyMs", "fast"],
    ["eventsUrl", "ftp://x"],
    ["eventsSchema", "xml"],
  ])("rejects --%s %s with a clear error", (flag, value) => {
    expect(() => emulatorOptionsFromFlags({ [flag]: value })).toThrow(/--/);
  });

  it("maps flags to emulator options", () => {
    expect(
      emulatorOptionsFromFlags({
        port: "0",
        seed: "demo",
        username: "u",
        password: "p",
        anonymousPull: true,
        failRate: "429=0.1",
        retryAfter: "3",
        rateLimit: "deletes=5",
        randomSeed: "9",
      }),
    ).toEqual({
      port: 0,
      seed: { kind: "demo" },
      username: "u",
      password: "p",
      anonymousPull: true,
      failRates: { "429": 0.1 },
      retryAfterSeconds: 3,
      rateLimits: { deletes: 5 },
      randomSeed: 9,
    });
    expect(() => emulatorOptionsFromFlags({ username: "u" })).toThrow(/--username and --password/);
    expect(() => emulatorOptionsFromFlags({ eventsSchema: "cloudevents" })).toThrow(/--events-url/);
  });

  it("passes custom event headers through to event delivery and rejects malformed ones", () => {
    const options = emulatorOptionsFromFlags({
      webhookUrl: "http://127.0.0.1:7071/api/registryWebhook",
      webhookHeader: ["X-Acr-Steward-Secret: s3cret", "X-Other:1"],
      eventsUrl: "http://127.0.0.1:7071/runtime/webhooks/EventGrid",
      eventsHeader: ["Aeg-Custom: yes"],
    });
    expect(options.events).toEqual({
      webhookHeaders: { "X-Acr-Steward-Secret": "s3cret", "X-Other": "1" },
      eventsHeaders: { "Aeg-Custom": "yes" },
    });
    expect(() =>
      emulatorOptionsFromFlags({ webhookUrl: "http://127.0.0.1:1/x", webhookHeader: ["no colon"] }),
    ).toThrow(/--webhook-header: expected 'Name: value'/);
    expect(() => emulatorOptionsFromFlags({ webhookHeader: ["A: b"] })).toThrow(
      /--webhook-header needs --webhook-url/,
    );
    expect(() =>
      emulatorOptionsFromFlags({ eventsUrl: "http://127.0.0.1:1/x", eventsCa: "/no/such/ca.pem" }),
    ).toThrow(/--events-ca: cannot read/);
  });
});

describe("fault injection", () => {
  it("is reproducible for a seed and close to the configured rates", () => {
    const draw = (seed: number) => {
      const faults = new FaultInjector(
        { latencyMs: 0, failRates: { "429": 0.1, "500": 0.05 }, retryAfterSeconds: 2, rateLimits: {} },
        seed,
      );
      return Array.from({ length: 2000 }, () => faults.injectedFailure()?.status ?? 200);
    };
    const a = draw(5);
    expect(draw(5)).toEqual(a);
    expect(draw(6)).not.toEqual(a);
    const share = (status: number) => a.filter((s) => s === status).length / a.length;
    expect(share(429)).toBeGreaterThan(0.07);
    expect(share(429)).toBeLessThan(0.13);
    expect(share(500)).toBeGreaterThan(0.03);
    expect(share(500)).toBeLessThan(0.07);
    expect(seededRandom(1)()).toBe(seededRandom(1)());
  });

  it("spends per-identity, per-category budgets that refill each minute", () => {
    let now = 0;
    const faults = new FaultInjector(
      { latencyMs: 0, failRates: {}, retryAfterSeconds: 1, rateLimits: { deletes: 2 } },
      1,
      () => now,
    );
    expect(faults.spendBudget("a", "deletes")).toBeUndefined();
    expect(faults.spendBudget("a", "deletes")).toBeUndefined();
    now = 45_000;
    const refused = faults.spendBudget("a", "deletes");
    expect(refused?.status).toBe(429);
    expect(refused?.headers["Retry-After"]).toBe("15");
    expect(faults.spendBudget("b", "deletes")).toBeUndefined();
    expect(faults.spendBudget("a", "reads")).toBeUndefined();
    now = 60_000;
    expect(faults.spendBudget("a", "deletes")).toBeUndefined();
  });
});
