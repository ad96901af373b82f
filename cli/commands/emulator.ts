import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { z } from "zod";
import { type EmulatorOptions, type RunningEmulator, startEmulator } from "../../emulator/index.js";
import {
  EmulatorOptionsSchema,
  EventsSchemaName,
  FailRateFlagSchema,
  RateLimitFlagSchema,
  SeedFlagSchema,
} from "../../emulator/options.js";
import { ValidationError } from "../../shared/errors/index.js";
import { ExitCode } from "../exitCodes.js";

/** `acr-steward emulator`: a local ACR over HTTPS (see emulator/ and docs/emulator.md). */

const EXAMPLES = `
Examples:
  # a demo registry on any free port; prints {"url","loginServer","caCertFile"} when ready
  acr-steward emulator --seed demo

  # a fixed port and a CA kept across restarts, with docker-login style credentials
  acr-steward emulator --port 8443 --tls-dir .acr-steward/tls --username dev --password secret

  # 100 repositories x 1,000 manifests, anonymous pull, and ACR-like throttling
  acr-steward emulator --seed synthetic:repos=100,manifests=1000 --anonymous-pull \\
    --rate-limit reads=1000,writes=100,deletes=50

  # a flaky registry for reliability tests (reproducible with --random-seed)
  acr-steward emulator --latency-ms 20 --fail-rate 429=0.05,500=0.02 --retry-after 2 --random-seed 7

  # Event Grid events (CloudEvents 1.0 schema) to a local function host
  acr-steward emulator --events-url http://localhost:7071/runtime/webhooks/EventGrid --events-schema cloudevents

Clients trust the emulator's CA with NODE_EXTRA_CA_CERTS=<caCertFile>, the SDK option
tlsOptions: { ca }, or skopeo --cert-dir <dir holding the CA as ca.crt>. Request counts:
GET <url>/_emulator/stats. Stops cleanly on SIGINT or SIGTERM. Details: docs/emulator.md`;

const integerFlag = (flag: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${flag} must be a whole number`)
    .transform(Number)
    .pipe(
      z.number().int().min(min, `${flag} must be at least ${min}`).max(max, `${flag} must be at most ${max}`),
    );

/** The raw commander values (strings and booleans), validated and turned into emulator options. */
const EmulatorFlagsSchema = z
  .object({
    port: integerFlag("--port", 0, 65_535).optional(),
    tlsDir: z.string().min(1, "--tls-dir needs a directory").optional(),
    seed: SeedFlagSchema.optional(),
    username: z.string().min(1, "--username must not be empty").optional(),
    password: z.string().min(1, "--password must not be empty").optional(),
    anonymousPull: z.boolean().optional(),
    eventsUrl: z.string().optional(),
    eventsSchema: EventsSchemaName.optional(),
    webhookUrl: z.string().optional(),
    webhookHeader: z.array(z.string()).optional(),
    eventsHeader: z.array(z.string()).optional(),
    eventsCa: z.string().min(1, "--events-ca needs a file").optional(),
    latencyMs: integerFlag("--latency-ms", 0, 60_000).optional(),
    failRate: FailRateFlagSchema.optional(),
    retryAfter: integerFlag("--retry-after", 0, 3600).optional(),
    rateLimit: RateLimitFlagSchema.optional(),
    randomSeed: integerFlag("--random-seed", 0, 2 ** 32 - 1).optional(),
    logRequests: z.boolean().optional(),
  })
  .strict();

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const flag = issue.path[0];
      const name =
        typeof flag === "string" ? `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : "emulator";
      return issue.message.startsWith("--") ? issue.message : `${name}: ${issue.message}`;
    })
    .join("; ");
}

/** Validates the flags; throws ValidationError (exit 2) naming the flag. */
export function emulatorOptionsFromFlags(raw: Record<string, unknown>): EmulatorOptions {
  const flags = EmulatorFlagsSchema.safeParse(raw);
  if (!flags.success) throw new ValidationError(describeIssues(flags.error));
  const f = flags.data;
  if (f.eventsSchema !== undefined && f.eventsUrl === undefined) {
    throw new ValidationError("--events-schema needs --events-url");
  }
  if (f.eventsHeader !== undefined && f.eventsUrl === undefined) {
    throw new ValidationError("--events-header needs --events-url");
  }
  if (f.webhookHeader !== undefined && f.webhookUrl === undefined) {
    throw new ValidationError("--webhook-header needs --webhook-url");
  }
  if (f.eventsCa !== undefined && f.eventsUrl === undefined && f.webhookUrl === undefined) {
    throw new ValidationError("--events-ca needs --events-url or --webhook-url");
  }
  const events = {
    ...(f.eventsHeader !== undefined
      ? { eventsHeaders: parseHeaderFlags("--events-header", f.eventsHeader) }
      : {}),
    ...(f.webhookHeader !== undefined
      ? { webhookHeaders: parseHeaderFlags("--webhook-header", f.webhookHeader) }
      : {}),
    ...(f.eventsCa !== undefined ? { ca: readCaFile(f.eventsCa) } : {}),
  };
  const options = {
    ...(f.port !== undefined ? { port: f.port } : {}),
    ...(f.tlsDir !== undefined ? { tlsDir: f.tlsDir } : {}),
    ...(f.seed !== undefined ? { seed: f.seed } : {}),
    ...(f.username !== undefined ? { username: f.username } : {}),
    ...(f.password !== undefined ? { password: f.password } : {}),
    ...(f.anonymousPull !== undefined ? { anonymousPull: f.anonymousPull } : {}),
    ...(f.eventsUrl !== undefined ? { eventsUrl: f.eventsUrl } : {}),
    ...(f.eventsSchema !== undefined ? { eventsSchema: f.eventsSchema } : {}),
    ...(f.webhookUrl !== undefined ? { webhookUrl: f.webhookUrl } : {}),
    ...(f.latencyMs !== undefined ? { latencyMs: f.latencyMs } : {}),
    ...(f.failRate !== undefined ? { failRates: f.failRate } : {}),
    ...(f.retryAfter !== undefined ? { retryAfterSeconds: f.retryAfter } : {}),
    ...(f.rateLimit !== undefined ? { rateLimits: f.rateLimit } : {}),
    ...(f.randomSeed !== undefined ? { randomSeed: f.randomSeed } : {}),
  };
  const withEvents = Object.keys(events).length > 0 ? { ...options, events } : options;
  // The same schema startEmulator applies, checked here so that bad combinations exit 2 with a clear message.
  const checked = EmulatorOptionsSchema.safeParse(options);
  if (!checked.success) throw new ValidationError(describeIssues(checked.error));
  return f.logRequests ? { ...withEvents, log: (line) => process.stderr.write(`${line}\n`) } : withEvents;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `Name: value` pairs from repeatable flags; a bad one is a ValidationError naming the flag. */
function parseHeaderFlags(flag: string, values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const colon = value.indexOf(":");
    const name = colon > 0 ? value.slice(0, colon).trim() : "";
    if (!HEADER_NAME.test(name)) throw new ValidationError(`${flag}: expected 'Name: value', got '${value}'`);
    headers[name] = value.slice(colon + 1).trim();
  }
  return headers;
}

function readCaFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new ValidationError(`--events-ca: cannot read ${file}`, { cause: error });
  }
}

function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerEmulatorCommand(program: Command): void {
  program
    .command("emulator")
    .description("Run a local Azure Container Registry emulator over HTTPS (for development and tests)")
    .option("--port <n>", "port on 127.0.0.1 (0 = any free port)", "0")
    .option("--tls-dir <dir>", "reuse or create ca.pem, ca-key.pem, server.pem, server-key.pem here")
    .option("--seed <spec>", "initial content: 'demo' or 'synthetic:repos=R,manifests=M'")
    .option("--username <user>", "accept docker-login style Basic auth with this user (needs --password)")
    .option("--password <password>", "password for --username")
    .option("--anonymous-pull", "allow anonymous pull and catalog (like ACR's anonymous pull)")
    .option("--events-url <url>", "deliver Event Grid events for pushes and deletes to this endpoint")
    .option("--events-schema <schema>", "eventgrid (default) or cloudevents")
    .option("--webhook-url <url>", "post ACR native webhook bodies to this endpoint")
    .option(
      "--webhook-header <header>",
      "custom header on webhook posts, 'Name: value' (repeatable; e.g. a shared secret)",
      collect,
    )
    .option("--events-header <header>", "custom delivery header on Event Grid posts (repeatable)", collect)
    .option("--events-ca <file>", "PEM CA to trust when the events or webhook endpoint serves HTTPS")
    .option("--latency-ms <n>", "added latency per request")
    .option("--fail-rate <rates>", "inject answers at these rates, e.g. 429=0.05,500=0.02")
    .option("--retry-after <seconds>", "Retry-After of injected 429 answers (default 1)")
    .option(
      "--rate-limit <budgets>",
      "per-identity requests per minute, e.g. reads=1000,writes=100,deletes=50",
    )
    .option("--random-seed <n>", "seed of the fault generator, for reproducible runs")
    .option("--log-requests", "log one line per request to stderr (never tokens)")
    .addHelpText("after", EXAMPLES)
    .action(async (raw: Record<string, unknown>) => {
      const options = emulatorOptionsFromFlags(raw);
      let emulator: RunningEmulator;
      try {
        emulator = await startEmulator(options);
      } catch (error) {
        if (error instanceof z.ZodError) throw new ValidationError(describeIssues(error), { cause: error });
        throw error;
      }
      const stopped = waitForStopSignal();
      process.stdout.write(
        `${JSON.stringify({ url: emulator.url, loginServer: emulator.loginServer, caCertFile: emulator.caCertFile })}\n`,
      );
      const signal = await stopped;
      process.stderr.write(`acr-steward emulator: ${signal} received, stopping\n`);
      await emulator.close();
      process.exitCode = ExitCode.ok;
    });
}
