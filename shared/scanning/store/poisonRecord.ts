import { z } from "zod";
import { ValidationError } from "../../errors/index.js";
import { redactSecrets } from "../redact.js";

/**
 * What the scan worker puts on `scan-requests-poison` when it gives up on a request: the original
 * body, why (a failure kind of the scanner, or one of the worker's own reasons), the scrubbed message
 * and the end of Trivy's diagnostics, and how often it was tried. The CLI shows these.
 */

export const PoisonKindSchema = z.enum([
  /** Not a scan request we understand (bad JSON, unknown version, invalid fields). */
  "invalid-message",
  /** The registry is not in ACR_STEWARD_REGISTRIES: no credentials are minted for it. */
  "registry-not-allowed",
  /** Delivered too often without a result (the worker died or was stopped each time). */
  "abandoned",
  // The retryable scan failures of the scanning core, after the last attempt:
  "auth-failed",
  "timeout",
  "crashed",
  "malformed-output",
  "db-unavailable",
  "cancelled",
  "scan-error",
  /** Storing the result failed every time. */
  "storage-failed",
  /** Reading the manifest (index children) failed every time. */
  "registry-error",
]);
export type PoisonKind = z.infer<typeof PoisonKindSchema>;

export const PoisonRecordSchema = z.object({
  version: z.literal(1),
  queue: z.string(),
  messageId: z.string(),
  dequeueCount: z.number().int().nonnegative(),
  poisonedAt: z.iso.datetime({ offset: true }),
  kind: PoisonKindSchema,
  reason: z.string(),
  diagnostics: z.string().optional(),
  /** The original message: the parsed JSON when it was JSON, else its text. */
  body: z.unknown(),
});
export type PoisonRecord = z.infer<typeof PoisonRecordSchema>;

/** Storage queue messages hold 64 KiB; base64 costs a third, so the JSON stays below 46 KiB. */
const MAX_RECORD_JSON_BYTES = 46 * 1024;

/** Serializes (base64 JSON, as every queue of ours) with texts scrubbed and cut to fit one message. */
export function encodePoisonRecord(record: PoisonRecord): string {
  const scrubbed: PoisonRecord = {
    ...record,
    reason: redactSecrets(record.reason).slice(0, 4000),
    ...(record.diagnostics === undefined ? {} : { diagnostics: redactSecrets(record.diagnostics) }),
    body: typeof record.body === "string" ? redactSecrets(record.body) : record.body,
  };
  let json = JSON.stringify(PoisonRecordSchema.parse(scrubbed));
  if (Buffer.byteLength(json) > MAX_RECORD_JSON_BYTES && scrubbed.diagnostics !== undefined) {
    const { diagnostics, ...rest } = scrubbed;
    const room = Math.max(0, MAX_RECORD_JSON_BYTES - Buffer.byteLength(JSON.stringify(rest)) - 64);
    json = JSON.stringify({
      ...rest,
      diagnostics: diagnostics.slice(Math.max(0, diagnostics.length - room)),
    });
  }
  if (Buffer.byteLength(json) > MAX_RECORD_JSON_BYTES) {
    const text = typeof scrubbed.body === "string" ? scrubbed.body : JSON.stringify(scrubbed.body);
    json = JSON.stringify({
      ...scrubbed,
      diagnostics: undefined,
      body: `${text.slice(0, 16 * 1024)}… (cut)`,
    });
  }
  return Buffer.from(json, "utf8").toString("base64");
}

/** Reads a poison record; throws ValidationError for a message that is not one (e.g. written by hand). */
export function decodePoisonRecord(text: string): PoisonRecord {
  const trimmed = text.trim();
  const json = trimmed.startsWith("{") ? trimmed : Buffer.from(trimmed, "base64").toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new ValidationError("not a poison record: not JSON", { cause: error });
  }
  const parsed = PoisonRecordSchema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(
      `not a poison record: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}
