import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { Command } from "commander";
import { afterEach, describe, expect, it } from "vitest";
import { type ImageRow, registerImagesCommand } from "../../../cli/commands/images.js";
import { EMBEDDED_STORAGE_FOLDER, startEmbeddedStorage, withStore } from "../../../cli/embeddedStorage.js";
import type { CliIo } from "../../../cli/output.js";
import { ConflictError } from "../../../shared/errors/index.js";
import { EVENT_FIXTURES, ROOT } from "./helpers.js";

/**
 * The embedded store: Azurite inside the CLI process, data under `.acr-steward/azurite/` of the
 * working directory. The CLI runs as a real process in a temporary directory: each command must
 * exit on its own (nothing left listening), and the second command must see what the first wrote.
 */

const TSX_LOADER = join(ROOT, "node_modules/tsx/dist/loader.mjs");
const ENTRY = `import { main } from ${JSON.stringify(join(ROOT, "cli/main.ts"))}; process.exitCode = await main(["node", "acr-steward", ...process.argv.slice(1)]);`;
const EXIT_WITHIN_MS = 45_000;

const folders: string[] = [];
function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "acr-steward-embedded-"));
  folders.push(folder);
  return folder;
}
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function runCli(
  cwd: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.ACR_STEWARD_STORAGE;
  delete env.ACR_STEWARD_REGISTRIES;
  const child = spawn(
    process.execPath,
    ["--import", TSX_LOADER, "--input-type=module", "-e", ENTRY, ...args],
    {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    // A command that does not exit by itself left something running (a server, a timer).
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`acr-steward ${args[0]} did not exit within ${EXIT_WITHIN_MS} ms:\n${stderr}`));
    }, EXIT_WITHIN_MS);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("the embedded store", () => {
  it("replay then images in a fresh directory: the data persists between commands and each command exits by itself", async () => {
    const cwd = temporaryFolder();
    const replay = await runCli(cwd, [
      "replay",
      join(EVENT_FIXTURES, "deadletter/eventgrid_deadletter.jsonl"),
      "--registries",
      "contosoregistry.azurecr.io",
      "--json",
    ]);
    expect(replay.stderr).toBe("");
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ totals: { events: 3, applied: 3, rejected: 0 } });
    const location = join(cwd, EMBEDDED_STORAGE_FOLDER);
    expect(readdirSync(location)).toContain("__azurite_db_table__.json");
    // The lock is released when the command ends.
    expect(existsSync(join(location, "acr-steward.lock"))).toBe(false);

    const images = await runCli(cwd, ["images", "--include-deleted", "--json"]);
    expect(images.stderr).toBe("");
    expect(images.code).toBe(0);
    const rows = (JSON.parse(images.stdout) as { images: ImageRow[] }).images;
    expect(rows.map((row) => [row.repository, row.digest.slice(0, 19), row.state, row.tags])).toEqual([
      ["team-a/api", "sha256:38cb3e9d5f56", "present", ["v1.4.2"]],
      ["team-a/api", "sha256:f25664569cf5", "deleted", []],
      ["team-b/worker", "sha256:36b3befad09e", "present", ["2026.03.02"]],
    ]);
  });

  it("images on an embedded store nothing was written to shows an empty inventory", async () => {
    const cwd = temporaryFolder();
    const out: string[] = [];
    const io: CliIo = {
      stdout: { write: (text: string) => out.push(text) },
      stderr: { write: (text: string) => out.push(`stderr: ${text}`) },
      stdin: process.stdin,
      setExitCode: () => undefined,
    };
    const program = new Command().exitOverride();
    registerImagesCommand(program, { io, env: {}, now: () => new Date(), embeddedStorage: { cwd } });
    await program.parseAsync(["node", "acr-steward", "images", "--json"]);
    expect(JSON.parse(out.join(""))).toEqual({ images: [] });
  });

  it("stops listening when stopped, keeps its data for the next start, and lets one user at a time in", async () => {
    const cwd = temporaryFolder();
    const first = await startEmbeddedStorage({ cwd, services: ["table", "queue", "blob"] });
    const ports = Object.values(first.ports);
    expect(ports).toHaveLength(3);
    try {
      for (const port of ports) expect(await portAnswers(port)).toBe(true);
      const table = TableClient.fromConnectionString(first.connectionString, "kept", {
        allowInsecureConnection: true,
      });
      await table.createTable();
      await table.createEntity({ partitionKey: "p", rowKey: "r", value: 42 });
      await expect(startEmbeddedStorage({ cwd })).rejects.toThrow(ConflictError);
      await expect(startEmbeddedStorage({ cwd })).rejects.toThrow(`pid ${process.pid}`);
    } finally {
      await first.stop();
    }
    for (const port of ports) expect(await portAnswers(port)).toBe(false);
    expect(first.location).toBe(join(cwd, EMBEDDED_STORAGE_FOLDER));
    expect(existsSync(join(cwd, EMBEDDED_STORAGE_FOLDER, "acr-steward.lock"))).toBe(false);

    const value = await withStore(
      undefined,
      async (store) => {
        expect(store.embedded).toBe(true);
        const table = TableClient.fromConnectionString(store.connectionString, "kept", {
          allowInsecureConnection: true,
        });
        return (await table.getEntity<{ value: number }>("p", "r")).value;
      },
      { cwd },
    );
    expect(value).toBe(42);
  });

  it("takes over a lock left by a process that no longer runs", async () => {
    const cwd = temporaryFolder();
    const gone = spawn(process.execPath, ["-e", ""]);
    const pid = gone.pid as number;
    await new Promise((resolve) => gone.once("exit", resolve));
    const location = join(cwd, EMBEDDED_STORAGE_FOLDER);
    writeLock(location, pid);
    const storage = await startEmbeddedStorage({ cwd });
    await storage.stop();
    expect(existsSync(join(location, "acr-steward.lock"))).toBe(false);
  });

  it("in memory: writes nothing to disk, takes no lock, and closes its ports on stop", async () => {
    const cwd = temporaryFolder();
    const [one, two] = await Promise.all([
      startEmbeddedStorage({ cwd, inMemory: true }),
      startEmbeddedStorage({ cwd, inMemory: true }),
    ]);
    const ports = [...Object.values(one.ports), ...Object.values(two.ports)];
    try {
      expect(one.location).toBeUndefined();
      const table = TableClient.fromConnectionString(one.connectionString, "scratch", {
        allowInsecureConnection: true,
      });
      await table.createTable();
      await table.createEntity({ partitionKey: "p", rowKey: "r" });
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
    for (const port of ports) expect(await portAnswers(port)).toBe(false);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it("uses --store instead when one is given, without starting anything", async () => {
    const cwd = temporaryFolder();
    const seen = await withStore("UseDevelopmentStorage=true", async (store) => store, { cwd });
    expect(seen).toEqual({
      connectionString: "UseDevelopmentStorage=true",
      embedded: false,
      description: "the --store account",
    });
    expect(existsSync(join(cwd, EMBEDDED_STORAGE_FOLDER))).toBe(false);
  });
});

function writeLock(location: string, pid: number): void {
  mkdirSync(location, { recursive: true });
  writeFileSync(join(location, "acr-steward.lock"), `${pid}\n`);
}
