import { z } from "zod";

/**
 * Every knob of the emulator, shared by `startEmulator()` and the `acr-steward emulator` flags so that
 * both validate the same way. The `*FromFlag` schemas parse the compact CLI spellings
 * (`synthetic:repos=10,manifests=100`, `429=0.05,500=0.02`, `reads=1000,writes=100,deletes=50`).
 */

export const SeedSpecSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("demo") }),
  z.object({
    kind: z.literal("synthetic"),
    repos: z.number().int().min(1).max(100_000),
    manifests: z.number().int().min(1).max(1_000_000),
  }),
]);
export type SeedSpec = z.infer<typeof SeedSpecSchema>;

export const FailRatesSchema = z
  .object({
    "429": z.number().min(0).max(1).optional(),
    "500": z.number().min(0).max(1).optional(),
  })
  .strict()
  .refine((rates) => (rates["429"] ?? 0) + (rates["500"] ?? 0) <= 1, "the fail rates add up to more than 1");
export type FailRates = z.infer<typeof FailRatesSchema>;

export const RateLimitsSchema = z
  .object({
    reads: z.number().int().positive().optional(),
    writes: z.number().int().positive().optional(),
    deletes: z.number().int().positive().optional(),
  })
  .strict();
export type RateLimits = z.infer<typeof RateLimitsSchema>;

export const EventsSchemaName = z.enum(["eventgrid", "cloudevents"]);

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

export const EmulatorOptionsSchema = z
  .object({
    /** 0 (the default) picks any free port. */
    port: z.number().int().min(0).max(65_535).default(0),
    /** Where the CA and server certificate live (reused when present, written otherwise). */
    tlsDir: z.string().min(1).optional(),
    seed: SeedSpecSchema.optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    anonymousPull: z.boolean().default(false),
    eventsUrl: httpUrl.optional(),
    eventsSchema: EventsSchemaName.default("eventgrid"),
    webhookUrl: httpUrl.optional(),
    latencyMs: z.number().int().min(0).max(60_000).default(0),
    failRates: FailRatesSchema.default({}),
    retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
    rateLimits: RateLimitsSchema.default({}),
    /** Seed of the fault-injection random generator; the same seed gives the same faults. */
    randomSeed: z.number().int().optional(),
  })
  .refine((o) => (o.username === undefined) === (o.password === undefined), {
    message: "--username and --password go together",
    path: ["username"],
  });

export type EmulatorOptionsInput = z.input<typeof EmulatorOptionsSchema>;
export type ResolvedEmulatorOptions = z.output<typeof EmulatorOptionsSchema>;

function parsePairs(text: string, what: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const part of text.split(",")) {
    const trimmed = part.trim();
    if (trimmed === "") continue;
    const eq = trimmed.indexOf("=");
    if (eq <= 0) throw new Error(`${what}: expected key=value, got '${trimmed}'`);
    const key = trimmed.slice(0, eq).trim();
    if (pairs.has(key)) throw new Error(`${what}: '${key}' is given twice`);
    pairs.set(key, trimmed.slice(eq + 1).trim());
  }
  return pairs;
}

function toNumber(value: string): number {
  return value === "" ? Number.NaN : Number(value);
}

/** `demo` or `synthetic:repos=R,manifests=M`. */
export const SeedFlagSchema = z.string().transform((text, ctx): SeedSpec => {
  if (text === "demo") return { kind: "demo" };
  if (text.startsWith("synthetic:")) {
    try {
      const pairs = parsePairs(text.slice("synthetic:".length), "--seed");
      const unknown = [...pairs.keys()].filter((k) => k !== "repos" && k !== "manifests");
      if (unknown.length > 0) throw new Error(`--seed: unknown key(s) ${unknown.join(", ")}`);
      const parsed = SeedSpecSchema.safeParse({
        kind: "synthetic",
        repos: toNumber(pairs.get("repos") ?? ""),
        manifests: toNumber(pairs.get("manifests") ?? ""),
      });
      if (parsed.success) return parsed.data;
      ctx.addIssue({
        code: "custom",
        message: "--seed synthetic needs repos=R (1-100000) and manifests=M (1-1000000) per repository",
      });
      return z.NEVER;
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  }
  ctx.addIssue({ code: "custom", message: "--seed is 'demo' or 'synthetic:repos=R,manifests=M'" });
  return z.NEVER;
});

function numericPairs(what: string, allowed: readonly string[]) {
  return z.string().transform((text, ctx): Record<string, number> => {
    try {
      const pairs = parsePairs(text, what);
      const out: Record<string, number> = {};
      for (const [key, value] of pairs) {
        if (!allowed.includes(key))
          throw new Error(`${what}: unknown key '${key}' (allowed: ${allowed.join(", ")})`);
        const number = toNumber(value);
        if (!Number.isFinite(number)) throw new Error(`${what}: '${key}=${value}' is not a number`);
        out[key] = number;
      }
      return out;
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });
}

/** `429=0.05,500=0.02` */
export const FailRateFlagSchema = numericPairs("--fail-rate", ["429", "500"]).pipe(FailRatesSchema);
/** `reads=1000,writes=100,deletes=50` (requests per identity per minute). */
export const RateLimitFlagSchema = numericPairs("--rate-limit", ["reads", "writes", "deletes"]).pipe(
  RateLimitsSchema,
);
