import { app, type InvocationContext } from "@azure/functions";
import { QUEUE_NAMES, STORAGE_CONNECTION } from "../shared/config/settings.js";
import { ensureError, isTransient, UnavailableError } from "../shared/errors/index.js";
import { RetentionRequestSchema } from "../shared/queues/messages.js";
import { RegistryRetentionActions, readOnlyRegistry } from "../shared/retention/adapters/index.js";
import { enforceRetention } from "../shared/retention/enforce.js";
import { type RetentionRuntime, retentionRuntime } from "./composition.js";

/** Who the audit rows name for queue-driven runs. */
export const QUEUE_ACTOR = `queue:${QUEUE_NAMES.retentionRequests}`;

/**
 * Queue trigger on `retention-requests`: one repository per message. It plans and executes retention
 * (a dry run unless ACR_STEWARD_RETENTION_ENFORCE is 'true').
 *
 * - a malformed message, a registry outside the allow-list, or a bad policy are logged and dropped:
 *   retrying cannot fix them, and the next event or sweep asks again once they are fixed;
 * - throttling, unavailability, actions that failed and audit rows that could not be written are
 *   thrown, so the message comes back and the whole run is planned again (runs are idempotent);
 *   after `maxDequeueCount` attempts it lands in `retention-requests-poison`.
 */
export function createEnforceRetentionHandler(
  runtime: () => Promise<RetentionRuntime> = retentionRuntime,
  now: () => Date = () => new Date(),
) {
  return async function enforceRetentionHandler(message: unknown, context: InvocationContext): Promise<void> {
    const parsed = RetentionRequestSchema.safeParse(typeof message === "string" ? tryJson(message) : message);
    if (!parsed.success) {
      context.error("retention request dropped: the message is not a valid retention request", {
        messageId: context.triggerMetadata?.id,
        problems: parsed.error.issues.map(
          (issue) => `${issue.path.join(".") || "message"}: ${issue.message}`,
        ),
      });
      return;
    }
    const request = parsed.data;
    try {
      const rt = await runtime();
      if (rt.policy === undefined) {
        context.log("retention request skipped: no policy is configured (ACR_STEWARD_RETENTION_POLICY)", {
          registry: request.registry,
          repository: request.repository,
        });
        return;
      }
      const registry = await rt.openRegistry(request.registry);
      const result = await enforceRetention(
        { repositories: [request.repository], enforce: true, actor: QUEUE_ACTOR },
        {
          registry: readOnlyRegistry(registry),
          policy: rt.policy,
          caps: rt.caps,
          globalEnforce: rt.config.retentionEnforce,
          ports: {
            registry: new RegistryRetentionActions(registry),
            audit: rt.audit,
            leases: rt.leases,
            clock: rt.clock,
          },
        },
        now(),
      );
      if (result.status !== "executed") return;
      const report = result.report;
      context.log("retention run finished", {
        registry: request.registry,
        repository: request.repository,
        trigger: request.trigger,
        runId: report.runId,
        mode: report.mode,
        planned: result.plan.totals,
        outcomes: Object.fromEntries(Object.entries(report.totals).filter(([, count]) => count > 0)),
        statuses: report.repositories.map((repo) => repo.status),
      });
      const auditFailed = report.repositories.some((repo) => repo.status === "audit-failed");
      const unavailable = result.unavailableRepositories[0];
      if (auditFailed || report.totals.failed > 0 || unavailable !== undefined) {
        const why = unavailable
          ? `the repository could not be listed: ${unavailable.error}`
          : auditFailed
            ? "audit rows could not be written"
            : `${report.totals.failed} action(s) failed`;
        throw new UnavailableError(
          `retention on ${request.registry}/${request.repository} did not finish (${why}); the request will be retried`,
        );
      }
    } catch (thrown) {
      const error = ensureError(thrown);
      if (isTransient(error)) throw error;
      context.error(`retention request dropped: ${error.message}`, {
        registry: request.registry,
        repository: request.repository,
        error: error.name,
      });
    }
  };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const enforceRetentionHandler = createEnforceRetentionHandler();

app.storageQueue("enforceRetention", {
  queueName: QUEUE_NAMES.retentionRequests,
  connection: STORAGE_CONNECTION,
  handler: enforceRetentionHandler,
});
