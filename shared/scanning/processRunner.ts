import { spawn } from "node:child_process";

/**
 * Runs one executable to completion with a hard deadline. The child gets its own process group so
 * that on deadline or abort the whole tree goes (SIGTERM, then SIGKILL after a grace period), and
 * so that nothing it started outlives it even when it exits normally.
 */

export interface ProcessRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Wall-clock limit from spawn to kill. */
  readonly deadlineMs: number;
  /** Time between SIGTERM and SIGKILL. */
  readonly termGraceMs: number;
  readonly signal?: AbortSignal | undefined;
  /** Most characters of stdout and of stderr kept (the end is kept). */
  readonly maxOutputChars?: number;
}

export interface ProcessResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the kept output is only the end of what was written. */
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly durationMs: number;
}

/** The executable could not be started at all (missing, not executable). */
export class SpawnError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, cause: unknown) {
    super(message, { cause });
    this.code = code;
  }
}

const DEFAULT_MAX_OUTPUT_CHARS = 256 * 1024;

class TailBuffer {
  private text = "";
  truncated = false;
  constructor(private readonly max: number) {}
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.max * 2) this.trim();
  }
  value(): string {
    this.trim();
    return this.text;
  }
  private trim(): void {
    if (this.text.length > this.max) {
      this.text = this.text.slice(this.text.length - this.max);
      this.truncated = true;
    }
  }
}

export function runProcess(request: ProcessRequest): Promise<ProcessResult> {
  const started = Date.now();
  const max = request.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS;
  return new Promise((resolve, reject) => {
    if (request.signal?.aborted) {
      resolve({
        exitCode: null,
        signal: null,
        stdout: "",
        stderr: "",
        stdoutTruncated: false,
        stderrTruncated: false,
        timedOut: false,
        aborted: true,
        durationMs: 0,
      });
      return;
    }
    const child = spawn(request.command, [...request.args], {
      env: { ...request.env },
      cwd: request.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      windowsHide: true,
    });
    const stdout = new TailBuffer(max);
    const stderr = new TailBuffer(max);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout.append(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr.append(chunk));

    let timedOut = false;
    let aborted = false;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;

    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const stop = () => {
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), request.termGraceMs);
    };
    const deadline = setTimeout(() => {
      if (exited) return;
      timedOut = true;
      stop();
    }, request.deadlineMs);
    const onAbort = () => {
      if (exited) return;
      aborted = true;
      stop();
    };
    request.signal?.addEventListener("abort", onAbort, { once: true });

    const cleanup = () => {
      clearTimeout(deadline);
      if (killTimer) clearTimeout(killTimer);
      request.signal?.removeEventListener("abort", onAbort);
    };

    child.on("error", (error: NodeJS.ErrnoException) => {
      cleanup();
      if (child.pid === undefined) {
        reject(new SpawnError(`cannot start ${request.command}: ${error.message}`, error.code, error));
      }
    });
    child.on("exit", () => {
      exited = true;
      // Leftover grandchildren would hold our pipes open (and keep running): end the whole group.
      killGroup("SIGKILL");
    });
    child.on("close", (exitCode, signal) => {
      cleanup();
      resolve({
        exitCode,
        signal,
        stdout: stdout.value(),
        stderr: stderr.value(),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
        timedOut,
        aborted,
        durationMs: Date.now() - started,
      });
    });
  });
}
