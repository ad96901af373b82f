import { PassThrough } from "node:stream";
import { Command } from "commander";
import { vi } from "vitest";
import { main } from "../../cli/main.js";
import type { CliIo } from "../../cli/output.js";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `acr-steward ARGS` in this process, as bin/acr-steward.js does, and captures what it prints. */
export async function runCli(...args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
  try {
    const code = await main(["node", "acr-steward", ...args]);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    process.exitCode = undefined;
  }
}

export interface CommandRun extends Omit<CliRun, "code"> {
  readonly exitCode: number;
  /** What parsing or the command threw (commander's exit or the command's error), if anything. */
  readonly error: unknown;
}

/**
 * Runs commands that `register` adds to a fresh program, with an in-memory terminal: what they
 * print, the exit code they set, what they throw. Standard input is a terminal only when the test
 * gives an answer to the question a command asks.
 */
export async function runCommands(
  args: readonly string[],
  register: (program: Command, io: CliIo) => void,
  options: { answer?: string } = {},
): Promise<CommandRun> {
  const out: string[] = [];
  const err: string[] = [];
  let exitCode = 0;
  const stdin = Object.assign(new PassThrough(), { isTTY: options.answer !== undefined });
  if (options.answer !== undefined) stdin.write(`${options.answer}\n`);
  const io: CliIo = {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text), isTTY: false },
    stdin,
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  const program = new Command().exitOverride();
  register(program, io);
  let error: unknown;
  try {
    await program.parseAsync(["node", "acr-steward", ...args]);
  } catch (thrown) {
    error = thrown;
  }
  return { stdout: out.join(""), stderr: err.join(""), exitCode, error };
}
