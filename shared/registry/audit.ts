import { z } from "zod";

/**
 * One structured record per registry mutation (delete, untag, lock change, copy), written whether it
 * succeeded, failed or was refused. The `AuditSink` port lets the functions write to the audit table
 * and the CLI to stderr as JSON lines; records never carry credentials.
 */
export const AuditRecordSchema = z.object({
  time: z.iso.datetime(),
  /** Who asked: the CLI user, a function name, or the identity's client id. */
  actor: z.string(),
  action: z.enum(["delete-manifest", "untag", "set-locks", "copy"]),
  registry: z.string(),
  repository: z.string(),
  digest: z.string().optional(),
  tag: z.string().optional(),
  /** Extra facts of the action (lock values, copy source), never secrets. */
  details: z.record(z.string(), z.unknown()).optional(),
  outcome: z.enum(["succeeded", "failed", "refused"]),
  durationMs: z.number().nonnegative(),
  error: z.string().optional(),
});

export type AuditRecord = z.infer<typeof AuditRecordSchema>;

export interface AuditSink {
  record(entry: AuditRecord): void | Promise<void>;
}

/** Writes each record as one JSON line (stderr by default, so that `--json` stdout stays clean). */
export class JsonLinesAuditSink implements AuditSink {
  readonly #write: (line: string) => void;
  constructor(write: (line: string) => void = (line) => process.stderr.write(line)) {
    this.#write = write;
  }
  record(entry: AuditRecord): void {
    this.#write(`${JSON.stringify({ type: "audit", ...entry })}\n`);
  }
}

/** Keeps records in memory (tests, and callers that forward them elsewhere). */
export class InMemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  record(entry: AuditRecord): void {
    this.records.push(entry);
  }
}

export interface AuditedAction {
  readonly action: AuditRecord["action"];
  readonly registry: string;
  readonly repository: string;
  readonly digest?: string;
  readonly tag?: string;
  readonly details?: Record<string, unknown>;
}

/**
 * Runs a mutation and records its outcome. Errors from `GuardError` count as "refused"; the error is
 * re-thrown unchanged after the record is written.
 */
export async function audited<T>(
  sink: AuditSink,
  actor: string,
  action: AuditedAction,
  run: () => Promise<T>,
  now: () => number = Date.now,
): Promise<T> {
  const started = now();
  const write = async (outcome: AuditRecord["outcome"], error?: Error) => {
    await sink.record({
      time: new Date(started).toISOString(),
      actor,
      ...action,
      outcome,
      durationMs: Math.max(0, now() - started),
      ...(error === undefined ? {} : { error: `${error.name}: ${error.message}` }),
    });
  };
  try {
    const result = await run();
    await write("succeeded");
    return result;
  } catch (thrown) {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    await write(error.name === "GuardError" ? "refused" : "failed", error);
    throw thrown;
  }
}
