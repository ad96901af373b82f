import { Command, CommanderError } from "commander";
import { ensureError, ValidationError } from "../shared/errors/index.js";
import { registerApplyCommand } from "./commands/apply.js";
import { registerCpCommand } from "./commands/cp.js";
import { registerEmulatorCommand } from "./commands/emulator.js";
import { registerExistsCommand } from "./commands/exists.js";
import { registerImagesCommand } from "./commands/images.js";
import { registerInspectCommand } from "./commands/inspect.js";
import { registerLockCommands } from "./commands/lock.js";
import { registerLsCommand } from "./commands/ls.js";
import { registerPreviewCommand } from "./commands/preview.js";
import { registerReplayCommand } from "./commands/replay.js";
import { registerRmCommand } from "./commands/rm.js";
import { registerScanCommand } from "./commands/scan.js";
import { registerScansCommand } from "./commands/scans.js";
import { registerSweepCommand } from "./commands/sweep.js";
import { ExitCode } from "./exitCodes.js";

const EXIT_CODES_HELP = `
Exit codes:
  0    the command did what was asked
  1    the answer is "no" (exists: not found; replay: some events rejected)
  2    the command could not run (bad flags or input, credentials, registry or storage errors)
  130  interrupted

Documentation: README.md, docs/architecture.md, docs/operations.md`;

/** Builds the command tree. Each command is a thin adapter over one use-case in shared/. */
export function buildProgram(): Command {
  const program = new Command()
    .name("acr-steward")
    .description("Keeps an Azure Container Registry in order: inventory, retention, scans, sweeps.")
    .version("0.1.0")
    .showHelpAfterError()
    .addHelpText("after", EXIT_CODES_HELP)
    .exitOverride();
  registerEmulatorCommand(program);
  registerLsCommand(program);
  registerInspectCommand(program);
  registerExistsCommand(program);
  registerCpCommand(program);
  registerRmCommand(program);
  registerLockCommands(program);
  registerSweepCommand(program);
  registerPreviewCommand(program);
  registerApplyCommand(program);
  registerReplayCommand(program);
  registerImagesCommand(program);
  registerScanCommand(program);
  registerScansCommand(program);
  return program;
}

/** Runs the CLI and resolves to the process exit code; never calls process.exit itself. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were already printed.
      return thrown.exitCode === 0 ? ExitCode.ok : ExitCode.error;
    }
    const error = ensureError(thrown);
    const label = error instanceof ValidationError ? "invalid input" : "error";
    process.stderr.write(`acr-steward: ${label}: ${error.message}\n`);
    return ExitCode.error;
  }
}
