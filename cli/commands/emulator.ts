import type { Command } from "commander";

/** `acr-steward emulator`: a local ACR over HTTPS (see emulator/). */
export function registerEmulatorCommand(program: Command): void {
  program
    .command("emulator")
    .description("Run a local Azure Container Registry emulator over HTTPS (for development and tests)")
    .action(async () => {
      throw new Error("the emulator is not built yet");
    });
}
