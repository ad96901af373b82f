import type { ScanFailureKind } from "./scanRunner.js";

/**
 * Turns how Trivy ended into one of our failure kinds. Trivy exits 1 on every fatal error and says
 * which in its last (FATAL) log line, so we read the text. Order matters, and when in doubt we pick
 * a retryable kind: calling an image gone wrongly would stop it from ever being scanned.
 */

export interface TrivyExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderr: string;
}

export interface FailureClassification {
  readonly failure: ScanFailureKind;
  readonly reason: string;
}

// The DB is read with --skip-db-update: missing, or written by another Trivy (schema mismatch).
// DB download errors can themselves mention MANIFEST_UNKNOWN, so they are recognised first.
const DB_PATTERNS = [
  /--skip-(?:java-)?db-update cannot be specified on the first run/i,
  /DB schema (?:doesn't|does not) match|version of DB schema/i,
  /\bDB error\b|failed to download (?:vulnerability|java) DB|vulnerability DB (?:is )?not found/i,
];
const TIMEOUT_PATTERNS = [/context deadline exceeded/i];
const AUTH_PATTERNS = [
  /\bUNAUTHORIZED\b/,
  /\bDENIED\b/,
  /\b40[13] (?:Unauthorized|Forbidden)\b/i,
  /status(?: code)?[ =:]*40[13]\b/i,
  /authentication required/i,
];
const GONE_PATTERNS = [
  /\bMANIFEST_UNKNOWN\b/,
  /\bNAME_UNKNOWN\b/,
  /\b404 Not Found\b/i,
  /status(?: code)?[ =:]*404\b/i,
];

export function classifyTrivyExit(exit: TrivyExit): FailureClassification {
  if (exit.exitCode === null) {
    return { failure: "crashed", reason: `trivy was killed by ${exit.signal ?? "a signal"}` };
  }
  if (exit.exitCode !== 1) {
    // Go exits 2 on a panic; 137/139 come from a shell or init that saw SIGKILL (OOM) or SIGSEGV.
    const panic = /^panic: .*$/m.exec(exit.stderr)?.[0];
    return {
      failure: "crashed",
      reason: `trivy exited with code ${exit.exitCode}${panic ? ` (${panic.slice(0, 200)})` : ""}`,
    };
  }
  const fatal = fatalMessage(exit.stderr);
  const matches = (patterns: readonly RegExp[]) => patterns.some((pattern) => pattern.test(exit.stderr));
  if (matches(DB_PATTERNS)) return { failure: "db-unavailable", reason: fatal };
  if (matches(TIMEOUT_PATTERNS)) return { failure: "timeout", reason: fatal };
  if (matches(AUTH_PATTERNS)) return { failure: "auth-failed", reason: fatal };
  if (matches(GONE_PATTERNS)) return { failure: "image-gone", reason: fatal };
  return { failure: "scan-error", reason: fatal };
}

const MAX_REASON_LENGTH = 2000;

/**
 * The FATAL line and the indented lines that follow it (Trivy lists one `* <source> error:` line per
 * image source), or the last lines when there is no FATAL line.
 */
export function fatalMessage(stderr: string): string {
  const lines = stderr.split(/\r?\n/);
  const start = lines.findLastIndex((line) => /\bFATAL\b/.test(line));
  const picked =
    start >= 0
      ? lines.slice(start).filter((line) => line.trim() !== "")
      : lines.filter((line) => line.trim() !== "").slice(-5);
  const message = picked.join("\n").trim();
  if (message === "") return "trivy printed nothing on stderr";
  return message.length > MAX_REASON_LENGTH ? `${message.slice(0, MAX_REASON_LENGTH - 1)}…` : message;
}
