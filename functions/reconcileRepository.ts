import { app, type InvocationContext } from "@azure/functions";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../shared/config/settings.js";
import { ConfigurationError } from "../shared/errors/index.js";
import { ReconcileRequestSchema } from "../shared/queues/messages.js";
import { reconcileRepository } from "../shared/sweep/reconcileRepository.js";
import { type SweepRuntime, sweepRuntime } from "./composition.js";

/**
 * Queue trigger on `reconcile-requests`: one repository of one sweep per message.
 *
 * - a malformed message or a registry outside the allow-list is logged and dropped: retrying cannot
 *   fix it;
 * - a repository the sweep already finished is skipped (duplicate delivery, resumed sweep);
 * - anything else that fails (throttling, storage, a listing that stopped half-way) is thrown, so
 *   this repository alone is retried by the queue and lands in `reconcile-requests-poison` after
 *   `maxDequeueCount` attempts; what a partial listing saw is recorded, nothing is tombstoned.
 */
const SCAN_SLICES = 7;

export function createReconcileRepositoryHandler(runtime: () => Promise<SweepRuntime> = sweepRuntime) {
  return async function reconcile(message: unknown, context: InvocationContext): Promise<void> {
    const parsed = ReconcileRequestSchema.safeParse(typeof message === "string" ? tryJson(message) : message);
    if (!parsed.success) {
      context.error("reconcile request dropped: the message is not a valid reconcile request", {
        messageId: context.triggerMetadata?.id,
        problems: parsed.error.issues.map(
          (issue) => `${issue.path.join(".") || "message"}: ${issue.message}`,
        ),
      });
      return;
    }
    const request = parsed.data;
    const rt = await runtime();
    let registry: Awaited<ReturnType<SweepRuntime["openRegistry"]>>;
    try {
      registry = await rt.openRegistry(request.registry);
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      context.error("reconcile request dropped", { registry: request.registry, error: error.message });
      return;
    }
    const { storage } = rt;
    const result = await reconcileRepository(
      request,
      {
        registry,
        inventory: storage.inventory,
        enricher: storage.enricher,
        tagRemovals: storage.tagRemovals,
        followUp: storage.followUp,
        progress: storage.progress,
        now: rt.now,
      },
      // Daily sweeps check each image's scan freshness once a week (new digests at once).
      { queueRetention: true, scanSlices: SCAN_SLICES },
    );
    context.log(
      result.alreadyDone ? "repository already reconciled by this sweep" : "repository reconciled",
      {
        sweepId: request.sweepId,
        registry: request.registry,
        repository: request.repository,
        messageId: context.triggerMetadata?.id,
        dequeueCount: context.triggerMetadata?.dequeueCount,
        ...result.counts,
        retentionQueued: result.retentionQueued,
        newerThanObservation: result.newerThanObservation,
      },
    );
  };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const reconcileRepositoryHandler = createReconcileRepositoryHandler();

app.storageQueue("reconcileRepository", {
  queueName: QUEUE_NAMES.reconcileRequests,
  connection: STORAGE_CONNECTION,
  handler: reconcileRepositoryHandler,
});
