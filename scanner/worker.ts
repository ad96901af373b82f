import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { ensureError } from "../shared/errors/index.js";
import { decodeQueueMessage } from "../shared/queues/codec.js";
import { type ScanRequest, ScanRequestSchema } from "../shared/queues/messages.js";
import { NO_SCAN_EVENTS, type ScanEventPublisher } from "../shared/scanning/events/index.js";
import type { ArchivedReport, ScanCredentialsProvider } from "../shared/scanning/ports.js";
import { redactSecrets } from "../shared/scanning/redact.js";
import { type ScanResult, scanImage } from "../shared/scanning/scanImage.js";
import type {
  DatabaseRefresher,
  DatabaseRefreshRequest,
  ScanRunner,
  ScanTarget,
} from "../shared/scanning/scanRunner.js";
import type { PoisonKind } from "../shared/scanning/store/poisonRecord.js";
import { scanRecordOf } from "../shared/scanning/store/scanRecord.js";
import type { ScanRequestQueue } from "../shared/scanning/store/scanRequestQueue.js";
import type { ScanLeases, ScanStore } from "../shared/scanning/store/tableScanStore.js";
import { HeldMessage } from "./heldMessage.js";
import { SILENT_LOGGER, type WorkerLogger } from "./logger.js";
import { type ManifestPlanner, SCAN_AS_IMAGE } from "./manifestPlan.js";

/**
 * The scan worker: drains `scan-requests` and exits (a Container Apps job execution). Messages are
 * received in batches and kept invisible until their result is stored; only then are they deleted,
 * so a worker that dies mid-scan loses nothing (the message reappears) and KEDA, which counts
 * invisible messages too, keeps the right number of executions. Each digest is scanned once per
 * freshness window: a fresh result ends the request, and a lease in the scans table keeps two workers
 * from scanning the same digest at once (e.g. one image pushed to two repositories).
 */

export type MessageOutcome =
  /** Scanned; result and report stored, message deleted. */
  | "completed"
  /** The image is gone: recorded as skipped, message deleted. */
  | "skipped"
  /** Scanned within the freshness window already: message deleted without scanning. */
  | "fresh"
  /** Another worker is scanning the digest: the message comes back later. */
  | "busy"
  /** A retryable failure: the message comes back after a back-off. */
  | "retry"
  /** Moved to the poison queue with its reason. */
  | "poisoned"
  /** Given back on shutdown (visible again at once). */
  | "released";

export interface WorkerReport {
  readonly outcomes: Readonly<Record<MessageOutcome, number>>;
  readonly messages: number;
  readonly databaseRefresh: "refreshed" | "failed" | "not-configured" | "not-needed";
  /** `drained`: the queue had no visible message left; `stopped`: stop() was called. */
  readonly ended: "drained" | "stopped";
}

export interface ScanWorkerSettings {
  /** ACR_STEWARD_REGISTRIES: requests for other registries are poisoned before any token is minted. */
  readonly allowList: readonly string[];
  /** ACR_STEWARD_SCAN_FRESHNESS. */
  readonly freshnessMs: number;
  /** ACR_STEWARD_TRIVY_TIMEOUT: one Trivy run. */
  readonly scanTimeoutMs: number;
  /** Messages per receive (1-32). Default 4. */
  readonly batchSize?: number;
  /** How long a received message stays invisible between renewals. Default 5 minutes. */
  readonly visibilityTimeoutMs?: number;
  /** How often held messages are renewed. Default a third of the visibility timeout. */
  readonly renewEveryMs?: number;
  /** Deliveries before a failing request is poisoned. Default 5. */
  readonly maxDequeueCount?: number;
  /** Back-off after a retryable failure: base * 2^(attempt-1), at most max. Default 1 min, 1 h. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** When another worker holds the digest's lease, look again after this long. Default 1 min. */
  readonly busyRetryMs?: number;
  /** The DB refresh run once before the first scan (no credentials); none when undefined. */
  readonly databaseRefresh?: DatabaseRefreshRequest;
  readonly worstLimit?: number;
  /** Names this worker in leases and logs. */
  readonly workerId?: string;
}

export interface ReportArchiveWithIds {
  putReportAs(report: ArchivedReport, scanId: string): Promise<string>;
}

export interface ScanWorkerDependencies {
  readonly queue: ScanRequestQueue;
  readonly runner: ScanRunner;
  readonly refresher?: DatabaseRefresher;
  readonly credentials: ScanCredentialsProvider;
  readonly store: ScanStore & ScanLeases;
  readonly archive: ReportArchiveWithIds;
  readonly events?: ScanEventPublisher;
  readonly manifests?: ManifestPlanner;
  readonly now?: () => Date;
  readonly newScanId?: () => string;
  readonly logger?: WorkerLogger;
}

interface Resolved {
  readonly batchSize: number;
  readonly visibilitySeconds: number;
  readonly renewEveryMs: number;
  readonly maxDequeueCount: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly busyRetryMs: number;
  readonly workerId: string;
  readonly allowed: ReadonlySet<string>;
}

/** Thrown inside processing to say which step failed, so the poison record names it. */
class StepError extends Error {
  constructor(
    readonly kind: PoisonKind,
    readonly original: Error,
  ) {
    super(original.message, { cause: original });
  }
}

export class ScanWorker {
  readonly #deps: ScanWorkerDependencies;
  readonly #settings: ScanWorkerSettings;
  readonly #resolved: Resolved;
  readonly #logger: WorkerLogger;
  readonly #now: () => Date;
  readonly #abort = new AbortController();
  #stopping = false;

  constructor(dependencies: ScanWorkerDependencies, settings: ScanWorkerSettings) {
    this.#deps = dependencies;
    this.#settings = settings;
    this.#logger = dependencies.logger ?? SILENT_LOGGER;
    this.#now = dependencies.now ?? (() => new Date());
    const visibilityMs = settings.visibilityTimeoutMs ?? 5 * 60_000;
    this.#resolved = {
      batchSize: Math.min(Math.max(1, settings.batchSize ?? 4), 32),
      visibilitySeconds: Math.max(1, Math.ceil(visibilityMs / 1000)),
      renewEveryMs: settings.renewEveryMs ?? Math.max(250, Math.floor(visibilityMs / 3)),
      maxDequeueCount: Math.max(1, settings.maxDequeueCount ?? 5),
      retryBaseMs: settings.retryBaseMs ?? 60_000,
      retryMaxMs: settings.retryMaxMs ?? 3_600_000,
      busyRetryMs: settings.busyRetryMs ?? 60_000,
      workerId: settings.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      allowed: new Set(settings.allowList.map((entry) => entry.toLowerCase())),
    };
  }

  /** Stop taking messages; the scan in progress finishes, unfinished batch messages are given back. */
  stop(): void {
    this.#stopping = true;
  }

  /** Stop now: the running scan is cancelled (Trivy is killed) and its message given back. */
  abandon(): void {
    this.#stopping = true;
    this.#abort.abort();
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  async run(): Promise<WorkerReport> {
    const outcomes: Record<MessageOutcome, number> = {
      completed: 0,
      skipped: 0,
      fresh: 0,
      busy: 0,
      retry: 0,
      poisoned: 0,
      released: 0,
    };
    let messages = 0;
    const { queue } = this.#deps;
    // An execution started for messages that are gone (or still invisible) ends without the DB download.
    if (!(await queue.hasVisibleMessages())) {
      this.#logger.info("no visible scan requests; nothing to do", { queue: queue.name });
      return { outcomes, messages, databaseRefresh: "not-needed", ended: "drained" };
    }
    const databaseRefresh = await this.#refreshDatabase();

    let ended: WorkerReport["ended"] = "drained";
    while (!this.#stopping) {
      const received = await queue.receive(this.#resolved.batchSize, this.#resolved.visibilitySeconds);
      if (received.length === 0) break;
      const batch = received.map((message) => new HeldMessage(queue, message, this.#logger));
      for (const held of batch)
        held.keepInvisible(this.#resolved.visibilitySeconds, this.#resolved.renewEveryMs);
      try {
        for (const held of batch) {
          if (this.#stopping) {
            await held.release(0);
            outcomes.released += 1;
            continue;
          }
          messages += 1;
          outcomes[await this.#processGuarded(held)] += 1;
        }
      } finally {
        await Promise.all(batch.map((held) => held.settle()));
      }
    }
    if (this.#stopping) ended = "stopped";
    this.#logger.info("scan worker finished", { ended, messages, ...outcomes });
    return { outcomes, messages, databaseRefresh, ended };
  }

  async #refreshDatabase(): Promise<WorkerReport["databaseRefresh"]> {
    const request = this.#settings.databaseRefresh;
    if (request === undefined || this.#deps.refresher === undefined) return "not-configured";
    const outcome = await this.#deps.refresher.refreshDatabase({ ...request, signal: this.#abort.signal });
    if (outcome.kind === "refreshed") {
      this.#logger.info("vulnerability DB refreshed", {
        durationMs: outcome.durationMs,
        dbUpdatedAt: outcome.db?.VulnerabilityDB?.UpdatedAt,
      });
      return "refreshed";
    }
    // Scans still run on the DB already in the cache (baked into the image); without one they fail
    // as db-unavailable and are retried later.
    this.#logger.error("vulnerability DB refresh failed; scanning with the DB in the cache", {
      reason: outcome.reason,
      exitCode: outcome.exitCode,
    });
    return "failed";
  }

  /** One message whose handling failed unexpectedly (storage down...) must not end the batch. */
  async #processGuarded(held: HeldMessage): Promise<MessageOutcome> {
    try {
      return await this.#process(held);
    } catch (error) {
      this.#logger.error("could not handle the message; it comes back after the back-off", {
        messageId: held.message.messageId,
        dequeueCount: held.dequeueCount,
        error: redactSecrets(ensureError(error).message),
      });
      await held.release(Math.ceil(this.#resolved.retryBaseMs / 1000));
      return "retry";
    }
  }

  async #process(held: HeldMessage): Promise<MessageOutcome> {
    const { message } = held;
    const log = { messageId: message.messageId, dequeueCount: message.dequeueCount };

    let request: ScanRequest;
    try {
      request = decodeQueueMessage(ScanRequestSchema, message.text);
    } catch (error) {
      return this.#poison(held, "invalid-message", ensureError(error).message);
    }
    const target: ScanTarget = {
      registry: request.registry.toLowerCase(),
      repository: request.repository,
      digest: request.digest,
    };
    const context = {
      ...log,
      registry: target.registry,
      repository: target.repository,
      digest: target.digest,
    };

    // The host comes from the allow-list, never from a message: check before any token is minted.
    if (!this.#resolved.allowed.has(target.registry)) {
      return this.#poison(
        held,
        "registry-not-allowed",
        `registry ${target.registry} is not in ACR_STEWARD_REGISTRIES`,
      );
    }
    if (message.dequeueCount > this.#resolved.maxDequeueCount) {
      return this.#poison(
        held,
        "abandoned",
        `delivered ${message.dequeueCount} times without a result (the worker stopped or died during each attempt)`,
      );
    }

    const now = this.#now();
    const latest = await this.#deps.store.latest(target.digest);
    if (
      latest?.status === "completed" &&
      now.getTime() - Date.parse(latest.scannedAt) < this.#settings.freshnessMs
    ) {
      await held.delete();
      this.#logger.info("digest scanned recently; request done without a scan", {
        ...context,
        outcome: "fresh",
        scannedAt: latest.scannedAt,
        scannedAs: `${latest.registry}/${latest.repository}`,
      });
      return "fresh";
    }

    const leaseTtlMs = this.#resolved.visibilitySeconds * 2000;
    const { workerId } = this.#resolved;
    if (!(await this.#deps.store.claim(target.digest, workerId, now, leaseTtlMs))) {
      await held.release(Math.ceil(this.#resolved.busyRetryMs / 1000));
      this.#logger.info("another worker is scanning this digest; the request comes back later", {
        ...context,
        outcome: "busy",
      });
      return "busy";
    }
    held.onRenew = async () => {
      await this.#deps.store.claim(target.digest, workerId, this.#now(), leaseTtlMs);
    };
    try {
      return await this.#scanAndStore(held, request, target, context);
    } catch (error) {
      const failure =
        error instanceof StepError ? error : new StepError("storage-failed", ensureError(error));
      return this.#retryOrPoison(held, failure.kind, failure.original.message, "", context);
    } finally {
      held.onRenew = undefined;
      await this.#deps.store.release(target.digest, workerId).catch((error: unknown) => {
        this.#logger.warn("could not release the scan lease", {
          ...context,
          error: ensureError(error).message,
        });
      });
    }
  }

  async #scanAndStore(
    held: HeldMessage,
    request: ScanRequest,
    target: ScanTarget,
    context: Record<string, unknown>,
  ): Promise<MessageOutcome> {
    const scanId = (this.#deps.newScanId ?? randomUUID)();
    const planner = this.#deps.manifests ?? SCAN_AS_IMAGE;
    const plan = await planner.plan(target).catch((error: unknown) => {
      throw new StepError("registry-error", ensureError(error));
    });
    let result: ScanResult;
    if (plan.kind === "gone") {
      result = { status: "skipped", target, scannedAt: this.#now().toISOString(), reason: plan.reason };
    } else {
      this.#logger.info("scan started", {
        ...context,
        scanId,
        reason: request.reason,
        platforms: plan.kind === "index" ? plan.children.map((child) => child.platform) : undefined,
      });
      result = await scanImage(
        { runner: this.#deps.runner, credentials: this.#deps.credentials, now: this.#now },
        { target, ...(plan.kind === "index" ? { children: plan.children } : {}) },
        {
          timeoutMs: this.#settings.scanTimeoutMs,
          signal: this.#abort.signal,
          ...(this.#settings.worstLimit === undefined ? {} : { worstLimit: this.#settings.worstLimit }),
        },
      );
    }

    if (result.status === "failed") {
      if (result.failure === "cancelled") {
        await held.release(0);
        this.#logger.warn("scan cancelled by shutdown; the request is given back", { ...context, scanId });
        return "released";
      }
      if (result.retryable && result.failure !== "image-gone") {
        return this.#retryOrPoison(
          held,
          result.failure,
          result.reason,
          result.diagnostics,
          context,
          result,
          scanId,
        );
      }
      await this.#store(scanRecordOf(result, scanId));
      return this.#poison(held, "scan-error", result.reason, result.diagnostics);
    }

    const blobs: string[] = [];
    if (result.status === "completed") {
      for (const report of result.reports) {
        blobs.push(
          await this.#deps.archive
            .putReportAs(
              {
                registry: target.registry,
                repository: target.repository,
                digest: report.digest,
                ...(report.platform === undefined ? {} : { platform: report.platform }),
                scannedAt: result.scannedAt,
                reportJson: report.reportJson,
              },
              scanId,
            )
            .catch((error: unknown) => {
              throw new StepError("storage-failed", ensureError(error));
            }),
        );
      }
    }
    const record = scanRecordOf(result, scanId, blobs);
    await this.#store(record);
    if (record.status === "completed")
      await (this.#deps.events ?? NO_SCAN_EVENTS).publishScanCompleted(record);
    await held.delete();
    this.#logger.info(record.status === "completed" ? "scan stored" : "image gone; recorded as skipped", {
      ...context,
      scanId,
      outcome: record.status,
      findings: record.findingsTotal,
      highest: record.highest,
      reason: record.reason,
    });
    return record.status === "completed" ? "completed" : "skipped";
  }

  async #store(record: ReturnType<typeof scanRecordOf>): Promise<void> {
    await this.#deps.store.record(record).catch((error: unknown) => {
      throw new StepError("storage-failed", ensureError(error));
    });
  }

  async #retryOrPoison(
    held: HeldMessage,
    kind: PoisonKind,
    reason: string,
    diagnostics: string,
    context: Record<string, unknown>,
    result?: Extract<ScanResult, { status: "failed" }>,
    scanId?: string,
  ): Promise<MessageOutcome> {
    const attempt = held.dequeueCount;
    if (attempt >= this.#resolved.maxDequeueCount) {
      if (result !== undefined && scanId !== undefined) {
        await this.#deps.store.record(scanRecordOf(result, scanId)).catch((error: unknown) => {
          this.#logger.warn("could not record the failed scan", {
            ...context,
            error: ensureError(error).message,
          });
        });
      }
      return this.#poison(held, kind, reason, diagnostics);
    }
    const delayMs = Math.min(this.#resolved.retryBaseMs * 2 ** (attempt - 1), this.#resolved.retryMaxMs);
    await held.release(Math.ceil(delayMs / 1000));
    this.#logger.warn("scan failed; the request comes back after a back-off", {
      ...context,
      outcome: "retry",
      failure: kind,
      reason: redactSecrets(reason),
      attempt,
      of: this.#resolved.maxDequeueCount,
      retryInMs: delayMs,
    });
    return "retry";
  }

  async #poison(
    held: HeldMessage,
    kind: PoisonKind,
    reason: string,
    diagnostics = "",
  ): Promise<MessageOutcome> {
    const { message } = held;
    await this.#deps.queue.poison({
      version: 1,
      queue: this.#deps.queue.name,
      messageId: message.messageId,
      dequeueCount: message.dequeueCount,
      poisonedAt: this.#now().toISOString(),
      kind,
      reason,
      ...(diagnostics === "" ? {} : { diagnostics }),
      body: bodyOf(message.text),
    });
    await held.delete();
    this.#logger.warn("scan request moved to the poison queue", {
      messageId: message.messageId,
      dequeueCount: message.dequeueCount,
      outcome: "poisoned",
      kind,
      reason: redactSecrets(reason),
    });
    return "poisoned";
  }
}

/** The original body for the poison record: parsed JSON when it is (base64) JSON, else the text. */
function bodyOf(text: string): unknown {
  const trimmed = text.trim();
  const candidates = [trimmed, Buffer.from(trimmed, "base64").toString("utf8")];
  for (const candidate of candidates) {
    if (!candidate.startsWith("{")) continue;
    try {
      return JSON.parse(candidate);
    } catch {
      // try the next form
    }
  }
  return trimmed.slice(0, 8192);
}
