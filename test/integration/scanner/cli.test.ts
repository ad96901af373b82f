import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { QueueClient } from "@azure/storage-queue";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerScanCommand } from "../../../cli/commands/scan.js";
import { registerScansCommand } from "../../../cli/commands/scans.js";
import type { CliDependencies } from "../../../cli/globalOptions.js";
import { openRegistry } from "../../../shared/registry/index.js";
import { platformChildren } from "../../../shared/scanning/platforms.js";
import { encodePoisonRecord } from "../../../shared/scanning/store/poisonRecord.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { FAKE_TRIVY_PATH, readFakeTrivyCalls } from "../../helpers/fake-trivy/index.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";

/** `acr-steward scan` and `acr-steward scans` against the emulator, Azurite and the stand-in trivy. */

let env: TestEmulator;
let connectionString: string;
let root: string;
let trivy: string;
let recordFile: string;
const PASSWORD = "cli-test-password-9f8e7d6c5b4a";

beforeAll(async () => {
  env = await startTestEmulator({ seed: { kind: "demo" } });
  connectionString = await getTestStorage();
  root = await mkdtemp(path.join(tmpdir(), "acr-steward-scan-cli-"));
  recordFile = path.join(root, "calls.jsonl");
  const registry = await registryForTests();
  const index = await registry.inspect({ repository: "team/web", tag: "1.11.0" });
  const [amd64, arm64] = platformChildren(index.children);
  trivy = path.join(root, "trivy");
  await writeFile(
    trivy,
    [
      "#!/bin/sh",
      `export FAKE_TRIVY_RECORD='${recordFile}'`,
      `export FAKE_TRIVY_FIXTURE_BY_DIGEST='${amd64?.digest}=alpine-39,${arm64?.digest}=ubuntu-1804'`,
      `exec "${FAKE_TRIVY_PATH}" "$@"`,
      "",
    ].join("\n"),
  );
  await chmod(trivy, 0o755);
}, 60_000);
afterAll(async () => {
  await env?.close();
  await stopTestStorage();
  await rm(root, { recursive: true, force: true });
});

function registryForTests() {
  return openRegistry({
    registry: env.loginServer,
    credentials: { kind: "token", credential: env.credential },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
  });
}

async function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = "";
  let stderr = "";
  let code = 0;
  const deps: CliDependencies = {
    io: {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      stdin: new PassThrough(),
      setExitCode: (value) => {
        code = value;
      },
    },
    env: {},
    openRegistry: () => registryForTests(),
  };
  const program = new Command().exitOverride();
  registerScanCommand(program, deps);
  registerScansCommand(program, deps);
  await program.parseAsync(["node", "acr-steward", ...args]);
  return { stdout, stderr, code };
}

describe("acr-steward scan / scans", () => {
  it("scans an index per platform, stores the result and prints the summary", async () => {
    const reference = `${env.loginServer}/team/web:1.11.0`;
    const flags = ["--trivy", trivy, "--cache-dir", path.join(root, "cache"), "--store", connectionString];
    const human = await run(["scan", reference, ...flags, "--username", "ci", "--password", PASSWORD]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/status\s+completed/);
    expect(human.stdout).toMatch(/platforms\s+linux\/amd64, linux\/arm64\/v8/);
    // alpine-39 (C2 M4) + ubuntu-1804 (M4 L1)
    expect(human.stdout).toMatch(/findings\s+11 \(C2 H0 M8 L1 U0\)/);
    expect(human.stdout).toMatch(/SEVERITY\s+ID\s+PACKAGE/);

    const scans = (await readFakeTrivyCalls(recordFile)).filter((call) => call.command === "image");
    expect(scans.some((call) => call.argv.includes("--download-db-only"))).toBe(true);
    const imageScans = scans.filter((call) => call.argv.includes("--format"));
    expect(imageScans).toHaveLength(2);
    for (const call of imageScans) expect(call.credentials).toMatchObject({ username: true, password: true });

    const listed = await run(["scans", "--store", connectionString, "--registry", env.loginServer, "--json"]);
    const document = JSON.parse(listed.stdout) as { scans: { repository: string; findingsTotal: number }[] };
    expect(document.scans).toEqual([expect.objectContaining({ repository: "team/web", findingsTotal: 11 })]);

    const table = await run(["scans", "--store", connectionString, "--registry", env.loginServer]);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^REPOSITORY\s+DIGEST\s+STATUS\s+CRIT\s+HIGH\s+MED\s+LOW\s+UNK\s+FIXABLE\s+OS\s+EOL\s+SCANNED$/,
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]?.indexOf("completed")).toBe(lines[0]?.indexOf("STATUS"));

    const critical = await run([
      "scans",
      "--store",
      connectionString,
      "--registry",
      env.loginServer,
      "--min-severity",
      "critical",
      "--json",
    ]);
    expect((JSON.parse(critical.stdout) as { scans: unknown[] }).scans).toHaveLength(1);
    const none = await run([
      "scans",
      "--store",
      connectionString,
      "--registry",
      env.loginServer,
      "--repo",
      "team/api",
      "--json",
    ]);
    expect((JSON.parse(none.stdout) as { scans: unknown[] }).scans).toEqual([]);

    const digest = (JSON.parse(listed.stdout) as { scans: { digest: string }[] }).scans[0]?.digest ?? "";
    const history = await run(["scans", "--store", connectionString, "--digest", digest, "--json"]);
    expect((JSON.parse(history.stdout) as { scans: { status: string }[] }).scans).toEqual([
      expect.objectContaining({ status: "completed" }),
    ]);

    for (const output of [human, listed, table])
      expect(`${output.stdout}${output.stderr}`).not.toContain(PASSWORD);
  });

  it("prints JSON only with --json", async () => {
    const result = await run([
      "scan",
      `${env.loginServer}/team/web:1.11.0`,
      "--trivy",
      trivy,
      "--cache-dir",
      path.join(root, "cache"),
      "--anonymous",
      "--json",
    ]);
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as {
      stored: boolean;
      scan: { status: string; platforms: unknown[] };
    };
    expect(document.stored).toBe(false);
    expect(document.scan.status).toBe("completed");
    expect(document.scan.platforms).toHaveLength(2);
    expect(result.stderr).toBe("");
  });

  it("shows the poison queue with kinds and reasons", async () => {
    const queue = uniqueName("clipoison");
    const poison = new QueueClient(connectionString, `${queue}-poison`);
    await poison.createIfNotExists();
    try {
      await poison.sendMessage(
        encodePoisonRecord({
          version: 1,
          queue,
          messageId: "m-1",
          dequeueCount: 5,
          poisonedAt: "2026-11-01T10:00:00.000Z",
          kind: "timeout",
          reason: "FATAL run error: context deadline exceeded",
          body: {
            version: 1,
            registry: "myregistry.azurecr.io",
            repository: "team/app",
            digest: `sha256:${"c".repeat(64)}`,
            reason: "push",
            requestedAt: "2026-11-01T09:00:00.000Z",
          },
        }),
      );
      await poison.sendMessage("hand-written junk");
      const human = await run(["scans", "--poison", "--queue", queue, "--store", connectionString]);
      const lines = human.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^POISONED\s+KIND\s+TRIES\s+IMAGE\s+REASON$/);
      expect(lines[1]).toMatch(
        /timeout\s+5\s+myregistry\.azurecr\.io\/team\/app@sha256:cccccccccccc\s+FATAL run error/,
      );
      expect(lines[2]).toMatch(/unreadable/);
      const json = await run(["scans", "--poison", "--queue", queue, "--store", connectionString, "--json"]);
      const document = JSON.parse(json.stdout) as { messages: { record?: { kind: string } }[] };
      expect(document.messages.map((m) => m.record?.kind)).toEqual(["timeout", undefined]);
    } finally {
      await poison.deleteIfExists();
    }
  });

  it("refuses to list without a store", async () => {
    await expect(run(["scans"])).rejects.toThrow(/no store/);
  });
});
