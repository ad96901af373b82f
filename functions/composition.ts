import { loadConfig } from "../shared/config/config.js";
import {
  buildIngestRuntime,
  buildRetentionRuntime,
  buildSweepRuntime,
  type IngestRuntime,
  type RetentionRuntime,
  type SweepRuntime,
} from "../shared/runtime/index.js";

/**
 * The functions' composition root: each runtime (shared/runtime) is built from the app settings on
 * first use and kept for the life of the worker process, so adapters, token caches and registry
 * clients survive between invocations. A failed build is retried by the next invocation.
 */

export type { IngestRuntime, RetentionRuntime, SweepRuntime };

let ingest: Promise<IngestRuntime> | undefined;

/** The ingest functions' runtime (queue, Event Grid and webhook triggers). */
export function ingestRuntime(): Promise<IngestRuntime> {
  ingest ??= Promise.resolve()
    .then(() => buildIngestRuntime(loadConfig(process.env)))
    .catch((error: unknown) => {
      ingest = undefined;
      throw error;
    });
  return ingest;
}

let retention: Promise<RetentionRuntime> | undefined;

/** The retention functions' runtime (queue trigger and HTTP preview). */
export function retentionRuntime(): Promise<RetentionRuntime> {
  retention ??= Promise.resolve()
    .then(() => buildRetentionRuntime(loadConfig(process.env)))
    .catch((error: unknown) => {
      retention = undefined;
      throw error;
    });
  return retention;
}

let sweep: Promise<SweepRuntime> | undefined;

/** The sweep functions' runtime (timer fan-out and reconcile queue trigger). */
export function sweepRuntime(): Promise<SweepRuntime> {
  sweep ??= Promise.resolve()
    .then(() => buildSweepRuntime(loadConfig(process.env)))
    .catch((error: unknown) => {
      sweep = undefined;
      throw error;
    });
  return sweep;
}
