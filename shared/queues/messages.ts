import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema } from "../oci/reference.js";

/**
 * Work-queue messages. Each carries a schema version so that a worker can refuse (and poison) a
 * message it does not understand instead of misreading it. Messages hold identifiers only; storage
 * queue messages are limited to 64 KiB.
 */

export const ScanReasonSchema = z.enum(["push", "sweep", "rescan", "manual"]);

export const ScanRequestSchema = z.strictObject({
  version: z.literal(1),
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  digest: DigestSchema,
  reason: ScanReasonSchema,
  requestedAt: z.iso.datetime({ offset: true }),
});

export const RetentionRequestSchema = z.strictObject({
  version: z.literal(1),
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  /** Why retention runs now: an event arrived, a sweep finished the repository, or a person asked. */
  trigger: z.enum(["event", "sweep", "manual"]),
  requestedAt: z.iso.datetime({ offset: true }),
});

export const ReconcileRequestSchema = z.strictObject({
  version: z.literal(1),
  /** The sweep run this repository belongs to (for resumption and progress). */
  sweepId: z.string().min(1).max(64),
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  requestedAt: z.iso.datetime({ offset: true }),
});

export type ScanReason = z.infer<typeof ScanReasonSchema>;
export type ScanRequest = z.infer<typeof ScanRequestSchema>;
export type RetentionRequest = z.infer<typeof RetentionRequestSchema>;
export type ReconcileRequest = z.infer<typeof ReconcileRequestSchema>;

/** Encoding (base64 JSON) and validated decoding of these messages. */
export { decodeQueueMessage, encodeQueueMessage } from "./codec.js";
