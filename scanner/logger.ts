import { redactSecrets } from "../shared/scanning/redact.js";

/**
 * The worker's log: one JSON object per line (Container Apps sends stdout to Log Analytics). Every
 * line is scrubbed of token-shaped text before it leaves, as a last guard: no code path logs a
 * credential, and this makes sure a future one cannot either.
 */
export interface WorkerLogger {
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  error(message: string, context?: Record<string, unknown>): void;
}

export const SILENT_LOGGER: WorkerLogger = { info: () => {}, warn: () => {}, error: () => {} };

export function jsonLinesLogger(
  write: (line: string) => void,
  options: { now?: () => Date; secrets?: () => readonly string[] } = {},
): WorkerLogger {
  const now = options.now ?? (() => new Date());
  const emit = (level: string, message: string, context: Record<string, unknown> | undefined) => {
    const line = JSON.stringify({ time: now().toISOString(), level, message, ...context });
    write(`${redactSecrets(line, options.secrets?.() ?? [])}\n`);
  };
  return {
    info: (message, context) => emit("info", message, context),
    warn: (message, context) => emit("warn", message, context),
    error: (message, context) => emit("error", message, context),
  };
}
