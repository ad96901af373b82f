import { app, type InvocationContext, type Timer } from "@azure/functions";
import { ensureError } from "../shared/errors/index.js";
import { startSweep } from "../shared/sweep/startSweep.js";
import { type SweepRuntime, sweepRuntime } from "./composition.js";

/**
 * Timer trigger (ACR_STEWARD_SWEEP_SCHEDULE): for every allow-listed registry, lists the catalog to
 * its end and sends one `reconcile-requests` message per repository. A run that did not finish
 * (an earlier invocation died, repositories still failing) is resumed: repositories it already
 * finished get no message. One registry failing does not stop the others; the invocation then
 * fails so that the failure is visible.
 */
export function createSweepHandler(runtime: () => Promise<SweepRuntime> = sweepRuntime) {
  return async function sweep(_timer: Timer, context: InvocationContext): Promise<void> {
    const rt = await runtime();
    const failures: string[] = [];
    for (const loginServer of rt.config.registries) {
      try {
        const registry = await rt.openRegistry(loginServer);
        const started = await startSweep({
          registry,
          progress: rt.storage.progress,
          reconcileQueue: rt.storage.reconcileQueue,
          now: rt.now,
        });
        context.log("sweep fanned out", { ...started });
      } catch (thrown) {
        const error = ensureError(thrown);
        failures.push(`${loginServer}: ${error.message}`);
        context.error("sweep could not fan out", { registry: loginServer, error: error.message });
      }
    }
    if (failures.length > 0) throw new Error(`sweep failed for ${failures.join("; ")}`);
  };
}

export const sweep = createSweepHandler();

app.timer("sweep", {
  schedule: "%ACR_STEWARD_SWEEP_SCHEDULE%",
  handler: sweep,
});
