import { loadConfig } from "../shared/config/config.js";
import {
  buildIngestRuntime,
  buildRetentionRuntime,
  type IngestRuntime,
  type RetentionRuntime,
} from "../shared/runtime/index.js";

/**
 * The functions' composition root: each runtime (shared/runtime) is built from the app settings on
 * first use and kept for the life of the worker process, so adapters, token caches and registry
 * clients survive between invocations. A failed build is retried by the next invocation.
 */

export type { IngestRuntime, RetentionRuntime };

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
