import { realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DefaultAzureCredential } from "@azure/identity";
import { z } from "zod";
import { loadConfig, type StewardConfig } from "../shared/config/config.js";
import { BLOB_CONTAINERS, QUEUE_NAMES, TABLE_NAMES } from "../shared/config/settings.js";
import { ConfigurationError, ensureError, ValidationError } from "../shared/errors/index.js";
import { createQueueClient } from "../shared/queues/queueClients.js";
import { openRegistry } from "../shared/registry/index.js";
import { AcrRefreshTokenMinter } from "../shared/scanning/credentials/index.js";
import { EventGridScanEventPublisher, NO_SCAN_EVENTS } from "../shared/scanning/events/index.js";
import { openScanStorage } from "../shared/scanning/store/clients.js";
import { StorageScanRequestQueue } from "../shared/scanning/store/scanRequestQueue.js";
import { TrivyRunner } from "../shared/scanning/trivyRunner.js";
import { jsonLinesLogger, type WorkerLogger } from "./logger.js";
import { RegistryManifestPlanner } from "./manifestPlan.js";
import { ScanWorker } from "./worker.js";

/**
 * The scan worker's entry point (`node dist/scanner/main.js`, one Container Apps job execution):
 * validates the configuration, composes the adapters, refreshes the DB, drains the queue and exits
 * 0. Settings come from the environment (shared/config); the knobs of the container itself (Trivy's
 * path, cache dir, batch size...) are flags, so the image fixes them in its CMD.
 */

const WorkerFlagsSchema = z.object({
  trivy: z.string().min(1).default("trivy"),
  cacheDir: z.string().min(1).default("/var/cache/trivy"),
  workDir: z.string().min(1).optional(),
  batchSize: z.coerce.number().int().min(1).max(32).default(4),
  maxAttempts: z.coerce.number().int().min(1).max(100).default(5),
  visibilitySeconds: z.coerce
    .number()
    .int()
    .min(2)
    .max(7 * 24 * 3600 - 1)
    .default(300),
  retryBaseSeconds: z.coerce.number().int().min(0).default(60),
  abandonAfterSeconds: z.coerce.number().int().min(0).default(25),
  eventsSchema: z.enum(["EventGrid", "CloudEvent"]).default("EventGrid"),
  skipDbRefresh: z.boolean().default(false),
  /** Scan without registry credentials (registries with anonymous pull; local test registries). */
  anonymous: z.boolean().default(false),
  /** Other queue, table and container names: local runs against a shared Azurite. */
  queue: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{1,55})[a-z0-9]$/, "not a queue name")
    .default(QUEUE_NAMES.scanRequests),
  scansTable: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, "not a table name")
    .default(TABLE_NAMES.scans),
  reportsContainer: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/, "not a container name")
    .default(BLOB_CONTAINERS.scanReports),
});
export type WorkerFlags = z.infer<typeof WorkerFlagsSchema>;

export function parseWorkerFlags(argv: readonly string[]): WorkerFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        trivy: { type: "string" },
        "cache-dir": { type: "string" },
        "work-dir": { type: "string" },
        "batch-size": { type: "string" },
        "max-attempts": { type: "string" },
        "visibility-seconds": { type: "string" },
        "retry-base-seconds": { type: "string" },
        "abandon-after-seconds": { type: "string" },
        "events-schema": { type: "string" },
        "skip-db-refresh": { type: "boolean" },
        anonymous: { type: "boolean" },
        queue: { type: "string" },
        "scans-table": { type: "string" },
        "reports-container": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ValidationError(ensureError(error).message, { cause: error });
  }
  const camel = Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
  const parsed = WorkerFlagsSchema.safeParse(camel);
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues
        .map(
          (issue) =>
            `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`,
        )
        .join("; "),
    );
  }
  if (!path.isAbsolute(parsed.data.cacheDir))
    throw new ValidationError("--cache-dir must be an absolute path");
  return parsed.data;
}

export async function composeWorker(
  config: StewardConfig,
  flags: WorkerFlags,
  logger: WorkerLogger,
): Promise<ScanWorker> {
  const identity = new DefaultAzureCredential(
    config.azureClientId === undefined ? {} : { managedIdentityClientId: config.azureClientId },
  );
  const requests = createQueueClient(config.storage, flags.queue);
  const poison = createQueueClient(config.storage, `${flags.queue}-poison`);
  const queue = new StorageScanRequestQueue(requests, poison);
  const { store, archive } = openScanStorage(config.storage, {
    table: flags.scansTable,
    container: flags.reportsContainer,
  });
  // In Azure the infrastructure creates these; locally (Azurite) the worker may be first.
  for (const [what, ensure] of [
    ["queues", () => queue.ensureQueues()],
    ["scans table", () => store.ensureTable()],
    ["report container", () => archive.ensureContainer()],
  ] as const) {
    await ensure().catch((error: unknown) =>
      logger.warn(`could not make sure the ${what} exist; assuming they do`, {
        error: ensureError(error).message,
      }),
    );
  }
  const trivy = new TrivyRunner({
    trivyPath: flags.trivy,
    cacheDir: flags.cacheDir,
    ...(flags.workDir === undefined ? {} : { workDir: flags.workDir }),
    logger,
  });
  const credentials = flags.anonymous
    ? { credentialsFor: async () => null }
    : new AcrRefreshTokenMinter({
        credential: identity,
        allowList: config.registries,
        audience: config.acrAudience,
      });
  const manifests = new RegistryManifestPlanner((loginServer) =>
    openRegistry({
      registry: loginServer,
      credentials: flags.anonymous
        ? { kind: "anonymous" }
        : config.azureClientId === undefined
          ? { kind: "default" }
          : { kind: "default", managedIdentityClientId: config.azureClientId },
      allowList: config.registries,
      audience: config.acrAudience,
      actor: "acr-steward scanner",
    }),
  );
  const events =
    config.scanEventsEndpoint === undefined
      ? NO_SCAN_EVENTS
      : new EventGridScanEventPublisher({
          endpoint: config.scanEventsEndpoint,
          credential: identity,
          schema: flags.eventsSchema,
          logger,
        });
  return new ScanWorker(
    { queue, runner: trivy, refresher: trivy, credentials, store, archive, events, manifests, logger },
    {
      allowList: config.registries,
      freshnessMs: config.scanFreshnessMs,
      scanTimeoutMs: config.trivyTimeoutMs,
      batchSize: flags.batchSize,
      visibilityTimeoutMs: flags.visibilitySeconds * 1000,
      maxDequeueCount: flags.maxAttempts,
      retryBaseMs: flags.retryBaseSeconds * 1000,
      ...(flags.skipDbRefresh ? {} : { databaseRefresh: { dbRepository: config.trivyDbRepository } }),
    },
  );
}

/** Runs one execution; resolves to the process exit code (0 when the queue was drained or we were stopped). */
export async function runScanner(
  argv: readonly string[],
  environment: NodeJS.ProcessEnv = process.env,
  logger: WorkerLogger = jsonLinesLogger((line) => process.stdout.write(line)),
): Promise<number> {
  let worker: ScanWorker;
  let flags: WorkerFlags;
  try {
    flags = parseWorkerFlags(argv);
    worker = await composeWorker(loadConfig(environment), flags, logger);
  } catch (error) {
    const failure = ensureError(error);
    logger.error("scanner cannot start", {
      error: failure.message,
      kind: failure instanceof ConfigurationError ? "configuration" : failure.name,
    });
    return 2;
  }
  let abandonTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (worker.stopping) {
      logger.warn("second signal: abandoning the running scan", { signal });
      worker.abandon();
      return;
    }
    logger.info("stopping: no new messages; the running scan may finish", {
      signal,
      abandonAfterSeconds: flags.abandonAfterSeconds,
    });
    worker.stop();
    abandonTimer = setTimeout(() => worker.abandon(), flags.abandonAfterSeconds * 1000);
    abandonTimer.unref();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    await worker.run();
    return 0;
  } catch (error) {
    logger.error("scanner failed", { error: ensureError(error).message });
    return 2;
  } finally {
    if (abandonTimer !== undefined) clearTimeout(abandonTimer);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = await runScanner(process.argv.slice(2));
}
