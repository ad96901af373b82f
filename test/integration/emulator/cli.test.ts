import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ContainerRegistryClient } from "@azure/container-registry";
import { afterEach, describe, expect, it } from "vitest";
import { fakeAadCredential } from "../../helpers/emulator.js";

/** `acr-steward emulator` as a process: one JSON line when ready, a working registry, clean exit on SIGTERM. */

const ROOT = join(import.meta.dirname, "../../..");
// Runs the CLI from source through tsx, so the test needs no build step.
const ENTRY = `import { main } from "./cli/main.ts"; process.exitCode = await main(["node", "acr-steward", ...process.argv.slice(1)]);`;

function runCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", ENTRY, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

describe("acr-steward emulator (CLI)", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  });

  it("prints exactly one JSON line when ready, serves the SDK, and stops cleanly on SIGTERM", async () => {
    const child = runCli(["emulator", "--port", "0", "--seed", "demo"]);
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const stdoutLines: string[] = [];
    const first = await new Promise<string>((resolve, reject) => {
      lines.on("line", (line) => {
        stdoutLines.push(line);
        resolve(line);
      });
      child.once("exit", (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
    });
    const ready = JSON.parse(first) as { url: string; loginServer: string; caCertFile: string };
    expect(Object.keys(ready)).toEqual(["url", "loginServer", "caCertFile"]);
    expect(ready.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.url).toBe(`https://${ready.loginServer}`);
    const ca = await readFile(ready.caCertFile, "utf8");
    expect(ca).toContain("BEGIN CERTIFICATE");

    const client = new ContainerRegistryClient(ready.url, fakeAadCredential(), { tlsOptions: { ca } });
    const names: string[] = [];
    for await (const name of client.listRepositoryNames()) names.push(name);
    expect(names).toContain("team/web");

    child.kill("SIGTERM");
    expect(await exitOf(child)).toBe(0);
    expect(stdoutLines).toHaveLength(1);
  });

  it("exits 2 with a message naming the flag on bad input", async () => {
    const child = runCli(["emulator", "--rate-limit", "reads=lots"]);
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await exitOf(child)).toBe(2);
    expect(stderr).toContain("--rate-limit");
  });
});
