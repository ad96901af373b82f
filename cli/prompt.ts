import { createInterface } from "node:readline/promises";
import { GuardError } from "../shared/errors/index.js";
import type { CliIo } from "./output.js";

/**
 * Confirmation for destructive commands. `--yes` answers for the user; without it the question is asked
 * on the terminal, and without a terminal (CI, pipes) the command refuses rather than guess.
 */
export interface ConfirmOptions {
  /** The user passed --yes. */
  readonly yes: boolean;
  /** What the command would do, for the refusal message ("delete team/app@sha256:..."). */
  readonly action: string;
}

export async function confirm(io: CliIo, question: string, options: ConfirmOptions): Promise<boolean> {
  if (options.yes) return true;
  if (io.stdin.isTTY !== true) {
    throw new GuardError(
      `refusing to ${options.action} without confirmation: no terminal to ask on. Re-run with --yes if you mean it.`,
    );
  }
  const readline = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream });
  try {
    const answer = await readline.question(`${question} [y/N] `);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    readline.close();
  }
}
