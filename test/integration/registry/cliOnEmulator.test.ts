import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliRun, runCli } from "../../helpers/cliRun.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";

/**
 * `acr-steward` commands run through `main()` against the emulator with a username and password
 * (the CLI's default, DefaultAzureCredential, needs Entra). Checks output, JSON purity and exit codes.
 */
let env: TestEmulator;
let flags: string[];

function cli(...args: string[]): Promise<CliRun> {
  return runCli(...args, ...flags);
}

beforeAll(async () => {
  env = await startTestEmulator({ seed: { kind: "demo" }, username: "ci", password: "ci-password" });
  flags = [
    "--registry",
    env.loginServer,
    "--ca-cert",
    env.emulator.caCertFile,
    "--username",
    "ci",
    "--password",
    "ci-password",
  ];
});
afterAll(async () => {
  await env?.close();
});

describe("acr-steward registry commands on the emulator", () => {
  it("ls --json prints only JSON", async () => {
    const { code, stdout } = await cli("ls", "--json");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      registry: env.loginServer,
      repositories: ["team/api", "team/web", "tools/base"],
    });
  });

  it("ls REPOSITORY prints an aligned table with tags, platform and locks", async () => {
    const { code, stdout } = await cli("ls", "team/api");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^DIGEST\s+TAGS\s+TYPE\s+PLATFORM\s+SIZE\s+CREATED\s+LOCKS$/);
    expect(lines.find((line) => /\b2\.0\.0\b/.test(line))).toMatch(/image\s+linux\/amd64\s.*no-delete$/);
    expect(lines.filter((line) => /\sartifact\s/.test(line))).toHaveLength(2);
  });

  it("exists answers 0, 1, and 2 when it cannot tell", async () => {
    expect((await cli("exists", "team/web:latest")).code).toBe(0);
    const missing = await cli("exists", "team/web:0.0.0");
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^not found: /);
    const saved = flags;
    flags = flags.map((flag) => (flag === "ci-password" ? "wrong" : flag));
    try {
      const denied = await cli("exists", "team/web:latest");
      expect(denied.code).toBe(2);
      expect(denied.stderr).toMatch(/username and password/);
    } finally {
      flags = saved;
    }
  });

  it("inspect --json keeps audit and progress off stdout", async () => {
    const { code, stdout } = await cli("inspect", "team/web:latest", "--json");
    expect(code).toBe(0);
    const details = JSON.parse(stdout) as { platforms: unknown[]; tags: string[] };
    expect(details.platforms).toHaveLength(2);
    expect(details.tags).toEqual(["1.11.0", "latest"]);
  });

  it("rm refuses without a terminal and without --yes, and refuses locked manifests", async () => {
    const unconfirmed = await cli("rm", "team/web:1.0.0");
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    expect((await cli("exists", "team/web:1.0.0")).code).toBe(0);

    const locked = await cli("rm", "team/api:2.0.0", "--yes");
    expect(locked.code).toBe(2);
    expect(locked.stderr).toMatch(/locked: deleteEnabled is false/);
    expect((await cli("exists", "team/api:2.0.0")).code).toBe(0);
  });

  it("cp, lock, rm, unlock, rm: the full life of a copy, with one audit line per change", async () => {
    const copied = await cli("cp", "team/web:latest", "copies/web:kept", "--json");
    expect(copied.code).toBe(0);
    expect(JSON.parse(copied.stdout)).toMatchObject({ manifests: 3 });
    expect((await cli("lock", "copies/web:kept")).code).toBe(0);
    expect((await cli("rm", "copies/web:kept", "--yes")).code).toBe(2);
    expect((await cli("unlock", "copies/web:kept")).code).toBe(0);
    const removed = await cli("rm", "copies/web:kept", "--yes");
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^deleted copies\/web@sha256:/);
    const audit = removed.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { type: string; action: string; outcome: string });
    expect(audit).toEqual([
      expect.objectContaining({ type: "audit", action: "delete-manifest", outcome: "succeeded" }),
    ]);
    expect((await cli("exists", "copies/web:kept")).code).toBe(1);
  });

  it("cp --referrers brings the signature and the SBOM along; without it only the image moves", async () => {
    type Listing = { manifests: { digest: string; tags: string[]; subject?: string }[] };
    const plain = await cli("cp", "team/api:2.1.0", "copies/api-plain:2.1.0", "--json");
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ manifests: 1, referrers: 0 });
    expect(
      (JSON.parse((await cli("ls", "copies/api-plain", "--json")).stdout) as Listing).manifests,
    ).toHaveLength(1);

    const signed = await cli("cp", "team/api:2.1.0", "copies/api-signed:2.1.0", "--referrers", "--json");
    expect(signed.code).toBe(0);
    const result = JSON.parse(signed.stdout) as { digest: string; manifests: number; referrers: number };
    expect(result).toMatchObject({ manifests: 3, referrers: 2 });
    const copied = (JSON.parse((await cli("ls", "copies/api-signed", "--json")).stdout) as Listing).manifests;
    const source = (JSON.parse((await cli("ls", "team/api", "--json")).stdout) as Listing).manifests;
    const referrersOf = (list: Listing["manifests"]) =>
      list
        .filter((m) => m.digest !== result.digest && m.tags.length === 0)
        .map((m) => m.digest)
        .sort();
    expect(copied).toHaveLength(3);
    // The same referrer manifests (same digests), untagged as in the source.
    expect(referrersOf(copied).every((digest) => referrersOf(source).includes(digest))).toBe(true);
    const text = await cli("cp", "team/api:2.1.0", "copies/api-signed:again", "--referrers");
    expect(text.stdout).toMatch(/manifests\s+3 \(2 referrers\)/);
  });

  it("still gives the right answer through injected 429s, 500s and latency", async () => {
    const clean = JSON.parse((await cli("ls", "team/web", "--json")).stdout) as {
      manifests: { digest: string }[];
    };
    env.emulator.setFaults({
      failRates: { "429": 0.15, "500": 0.1 },
      latencyMs: 10,
      retryAfterSeconds: 0,
      randomSeed: 3,
    });
    try {
      const faulty = await cli("ls", "team/web", "--json", "--page-size", "2");
      expect(faulty.code).toBe(0);
      const parsed = JSON.parse(faulty.stdout) as { manifests: { digest: string }[] };
      expect(parsed.manifests.map((m) => m.digest).sort()).toEqual(
        clean.manifests.map((m) => m.digest).sort(),
      );
      expect(
        env.emulator.stats().faults.injected429 + env.emulator.stats().faults.injected500,
      ).toBeGreaterThan(0);
    } finally {
      env.emulator.setFaults({ failRates: {}, latencyMs: 0 });
    }
  });
});
