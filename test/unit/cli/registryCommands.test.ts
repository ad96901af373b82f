import { describe, expect, it } from "vitest";
import { registerCpCommand } from "../../../cli/commands/cp.js";
import { registerExistsCommand } from "../../../cli/commands/exists.js";
import { registerInspectCommand } from "../../../cli/commands/inspect.js";
import { registerLockCommands } from "../../../cli/commands/lock.js";
import { registerLsCommand } from "../../../cli/commands/ls.js";
import { registerRmCommand } from "../../../cli/commands/rm.js";
import type { CliDependencies } from "../../../cli/globalOptions.js";
import { GuardError, PartialListingError } from "../../../shared/errors/index.js";
import { InMemoryRegistry } from "../../../shared/registry/index.js";
import { runCommands } from "../../helpers/cliRun.js";

/** Runs registry commands against an in-memory registry and captures what they print. */
async function run(registry: InMemoryRegistry, args: string[], options: { answer?: string } = {}) {
  return runCommands(
    args,
    (program, io) => {
      const deps: CliDependencies = { io, env: {}, openRegistry: async () => registry };
      for (const register of [
        registerLsCommand,
        registerInspectCommand,
        registerExistsCommand,
        registerCpCommand,
        registerRmCommand,
        registerLockCommands,
      ])
        register(program, deps);
    },
    options,
  );
}

function demo(): { registry: InMemoryRegistry; v1: string; v2: string; index: string } {
  const registry = new InMemoryRegistry("demo.azurecr.io");
  const v1 = registry.pushImage("team/app", { tag: "v1", architecture: "amd64" });
  const v2 = registry.pushImage("team/app", { tag: "v2", architecture: "arm64" });
  registry.pushImage("team/app", { layerText: "untagged build" });
  const index = registry.pushIndex(
    "team/app",
    [
      { digest: v1, architecture: "amd64", os: "linux" },
      { digest: v2, architecture: "arm64", os: "linux" },
    ],
    "latest",
  );
  registry.pushImage("tools/base", { tag: "3.20" });
  return { registry, v1, v2, index };
}

describe("acr-steward ls", () => {
  it("lists repositories as a table", async () => {
    const { registry } = demo();
    const result = await run(registry, ["ls"]);
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe("REPOSITORY\nteam/app\ntools/base\n");
  });

  it("lists a repository's manifests in aligned columns with tags, platform, size, created and locks", async () => {
    const { registry, v1 } = demo();
    await registry.setLocks({ repository: "team/app", digest: v1 }, { deleteEnabled: false });
    const { stdout } = await run(registry, ["ls", "team/app"]);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^DIGEST\s+TAGS\s+TYPE\s+PLATFORM\s+SIZE\s+CREATED\s+LOCKS$/);
    expect(lines).toHaveLength(5);
    // Aligned: every column starts at the same offset on every line.
    const typeColumn = lines[0]?.indexOf("TYPE") ?? -1;
    for (const line of lines.slice(1)) expect(line.slice(typeColumn)).toMatch(/^(image|index) /);
    const locked = lines.find((line) => line.includes("v1"));
    expect(locked).toMatch(/linux\/amd64/);
    expect(locked).toMatch(/no-delete$/);
    expect(lines.find((line) => line.includes("latest"))).toMatch(/index\s+linux\/amd64,linux\/arm64/);
    expect(lines.filter((line) => /\s-\s+image/.test(line))).toHaveLength(1);
  });

  it("prints only JSON with --json", async () => {
    const { registry, index } = demo();
    const { stdout, stderr } = await run(registry, ["ls", "team/app", "--json"]);
    const parsed = JSON.parse(stdout) as { manifests: { digest: string; tags: string[] }[] };
    expect(parsed.manifests).toHaveLength(4);
    expect(parsed.manifests.find((m) => m.digest === index)?.tags).toEqual(["latest"]);
    expect(stderr).toBe("");
  });

  it("fails (never a silent partial table) when the listing breaks half-way", async () => {
    const registry = new InMemoryRegistry();
    for (let i = 0; i < 5; i += 1) registry.pushImage("team/app", { tag: `t${i}` });
    registry.failListingsAfterPages = 1;
    const result = await run(registry, ["ls", "team/app", "--page-size", "2"]);
    expect(result.error).toBeInstanceOf(PartialListingError);
    expect(result.stderr).toMatch(/INCOMPLETE listing, 2 manifests seen/);
    const json = await run(registry, ["ls", "team/app", "--page-size", "2", "--json"]);
    expect(json.error).toBeInstanceOf(PartialListingError);
    expect(json.stdout).toBe("");
  });

  it("refuses a malformed repository name with a clear message", async () => {
    const { registry } = demo();
    const result = await run(registry, ["ls", "Team/App"]);
    expect(String(result.error)).toMatch(/not a valid name/);
  });
});

describe("acr-steward inspect and exists", () => {
  it("shows digest, platforms of an index, tags and locks", async () => {
    const { registry, index } = demo();
    const { stdout } = await run(registry, ["inspect", "team/app:latest"]);
    expect(stdout).toContain(index);
    expect(stdout).toMatch(/kind\s+index/);
    expect(stdout).toMatch(/linux\/amd64\s+sha256:/);
    expect(stdout).toMatch(/linux\/arm64\s+sha256:/);
    expect(stdout).toMatch(/tags\s+latest/);
  });

  it("answers with exit codes 0 and 1", async () => {
    const { registry } = demo();
    expect((await run(registry, ["exists", "team/app:v1"])).exitCode).toBe(0);
    const missing = await run(registry, ["exists", "team/app:nope", "--json"]);
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ exists: false });
  });
});

describe("acr-steward rm", () => {
  it("refuses without --yes when nobody can answer, and deletes nothing", async () => {
    const { registry, v1 } = demo();
    const result = await run(registry, ["rm", "team/app:v1"]);
    expect(result.error).toBeInstanceOf(GuardError);
    expect(String(result.error)).toMatch(/--yes/);
    expect(await registry.exists({ repository: "team/app", digest: v1 })).toBe(true);
  });

  it("asks on a terminal and does nothing when the answer is no", async () => {
    const { registry, v1 } = demo();
    const result = await run(registry, ["rm", "team/app:v1"], { answer: "n" });
    expect(result.stderr).toMatch(
      /Delete team\/app@sha256:\w+ \(tags v1\)\? This cannot be undone\. \[y\/N\]/,
    );
    expect(result.stdout).toBe("nothing removed\n");
    expect(await registry.exists({ repository: "team/app", digest: v1 })).toBe(true);
  });

  it("deletes when the answer on the terminal is yes", async () => {
    const { registry, v1 } = demo();
    const result = await run(registry, ["rm", "team/app:v1"], { answer: "y" });
    expect(result.stdout).toMatch(/^deleted team\/app@/);
    expect(await registry.exists({ repository: "team/app", digest: v1 })).toBe(false);
  });

  it("deletes the manifest with all its tags when confirmed with --yes", async () => {
    const { registry, v2 } = demo();
    const result = await run(registry, ["rm", "team/app:v2", "--yes"]);
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe(`deleted team/app@${v2} (tags: v2)\n`);
    expect(await registry.exists({ repository: "team/app", digest: v2 })).toBe(false);
  });

  it("removes only the tag with --untag", async () => {
    const { registry, v1 } = demo();
    await run(registry, ["rm", "team/app:v1", "--untag", "--yes"]);
    expect(await registry.exists({ repository: "team/app", tag: "v1" })).toBe(false);
    expect(await registry.exists({ repository: "team/app", digest: v1 })).toBe(true);
  });

  it("refuses a locked manifest and says how to unlock it", async () => {
    const { registry, v1 } = demo();
    await run(registry, ["lock", "team/app:v1"]);
    const result = await run(registry, ["rm", "team/app:v1", "--yes"]);
    expect(result.error).toBeInstanceOf(GuardError);
    expect(String(result.error)).toMatch(/locked.*acr-steward unlock team\/app:v1/);
    expect(await registry.exists({ repository: "team/app", digest: v1 })).toBe(true);
    await run(registry, ["unlock", "team/app:v1"]);
    expect((await run(registry, ["rm", "team/app:v1", "--yes"])).error).toBeUndefined();
  });
});

describe("acr-steward cp", () => {
  it("copies an index with its children and keeps the digest", async () => {
    const { registry, index } = demo();
    const { stdout, error } = await run(registry, ["cp", "team/app:latest", "mirror/app", "--json"]);
    expect(error).toBeUndefined();
    const result = JSON.parse(stdout) as { digest: string; manifests: number };
    expect(result).toMatchObject({ digest: index, manifests: 3 });
    expect((await registry.inspect({ repository: "mirror/app", tag: "latest" })).digest).toBe(index);
  });
});
