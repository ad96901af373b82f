import { afterEach, describe, expect, it, vi } from "vitest";
import { startEmulator } from "../../../emulator/index.js";
import { runCli } from "../../helpers/cliRun.js";

/**
 * The main job end to end: `acr-steward sweep` with nothing configured sweeps the built-in demo
 * registry on embedded storage. The numbers are checked against the demo seed itself.
 */

interface SweepJson {
  demo: boolean;
  sweep: { repositories: number; failed: unknown[]; counts: Record<string, number> };
  inventory: {
    repositories: { repository: string; manifests: number; tags: number }[];
    manifests: { repository: string; digest: string; kind: string; tags: string[]; platforms: string[] }[];
  };
  scanQueue: { repository: string; digest: string }[];
  retention: {
    policy: string;
    dryRun: boolean;
    plan: {
      totals: Record<string, number>;
      repositories: { repository: string; decisions: { digest: string; action: string; reason: string }[] }[];
    };
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("acr-steward sweep (the main job)", () => {
  it("sweeps the demo registry and reports its complete picture as JSON, and nothing else", async () => {
    const reference = await startEmulator({ seed: { kind: "demo" } });
    const seeded = reference.store.counts();
    await reference.close();

    const { code, stdout, stderr } = await runCli("sweep", "--json");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as SweepJson;

    expect(result.demo).toBe(true);
    expect(result.sweep.failed).toEqual([]);
    expect(result.sweep.repositories).toBe(seeded.repositories);
    expect(result.sweep.counts).toMatchObject({
      manifests: seeded.manifests,
      tags: seeded.tags,
      added: seeded.manifests,
      tombstoned: 0,
    });
    expect(result.inventory.repositories.map((r) => r.repository).sort()).toEqual([
      "team/api",
      "team/web",
      "tools/base",
    ]);
    expect(result.inventory.manifests).toHaveLength(seeded.manifests);
    expect(result.inventory.repositories.reduce((sum, r) => sum + r.tags, 0)).toBe(seeded.tags);

    // The multi-arch `latest` of team/web is an index of two platforms.
    const index = result.inventory.manifests.find(
      (m) => m.repository === "team/web" && m.tags.includes("latest"),
    );
    expect(index?.kind).toBe("index");
    expect(index?.platforms.sort()).toEqual(["linux/amd64", "linux/arm64"]);

    // Images are queued for scanning; signatures, SBOMs and the index's platform images are not.
    const referrers = result.inventory.manifests.filter((m) => m.kind === "signature" || m.kind === "sbom");
    expect(referrers).toHaveLength(2);
    expect(result.scanQueue).toHaveLength(seeded.manifests - referrers.length - 2);
    for (const referrer of referrers)
      expect(result.scanQueue.map((s) => s.digest)).not.toContain(referrer.digest);

    // The retention plan covers every manifest with the example policy, as a dry run.
    expect(result.retention.policy).toContain("examples/retention-policy.yaml");
    expect(result.retention.dryRun).toBe(true);
    expect(result.retention.plan.totals.manifests).toBe(seeded.manifests);
    const decisions = result.retention.plan.repositories.flatMap((r) => r.decisions);
    for (const referrer of referrers)
      expect(decisions.find((d) => d.digest === referrer.digest)?.action).toBe("keep");
    const locked = result.inventory.manifests.find(
      (m) => m.repository === "team/api" && m.tags.includes("2.0.0"),
    );
    expect(decisions.find((d) => d.digest === locked?.digest)?.action).toBe("keep");
    for (const decision of decisions) expect(decision.reason.length).toBeGreaterThan(0);
  }, 60_000);

  it("prints a summary and aligned tables for a person", async () => {
    const { code, stdout } = await runCli("sweep");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Registry {3}no --registry given: the built-in demo registry/);
    expect(stdout).toContain("INVENTORY");
    expect(stdout).toContain("SCAN QUEUE");
    expect(stdout).toMatch(/RETENTION PLAN {2}policy: .*examples\/retention-policy\.yaml/);
    expect(stdout).toContain("Dry run: nothing was deleted.");
    const header = stdout.split("\n").find((line) => line.startsWith("REPOSITORY  MANIFESTS"));
    expect(header).toBeDefined();
  }, 60_000);

  it("--enforce asks first, and refuses without a terminal to ask on", async () => {
    const { code, stderr } = await runCli("sweep", "--enforce", "--json");
    expect(code).toBe(2);
    expect(stderr).toContain("without confirmation");
  }, 60_000);

  it("--enforce --yes carries out the plan only when the global switch allows it", async () => {
    const previous = process.env.ACR_STEWARD_RETENTION_ENFORCE;
    try {
      delete process.env.ACR_STEWARD_RETENTION_ENFORCE;
      const dry = JSON.parse((await runCli("sweep", "--enforce", "--yes", "--json")).stdout) as SweepJson & {
        retention: { execution: { dryRun: boolean; totals: Record<string, number> } };
      };
      expect(dry.retention.dryRun).toBe(true);
      expect(dry.retention.execution.totals.deleted).toBe(0);

      process.env.ACR_STEWARD_RETENTION_ENFORCE = "true";
      const real = JSON.parse((await runCli("sweep", "--enforce", "--yes", "--json")).stdout) as typeof dry;
      expect(real.retention.dryRun).toBe(false);
      expect(real.retention.execution.totals.deleted).toBe(real.retention.plan.totals.delete);
      expect(real.retention.plan.totals.delete).toBeGreaterThan(0);
    } finally {
      if (previous === undefined) delete process.env.ACR_STEWARD_RETENTION_ENFORCE;
      else process.env.ACR_STEWARD_RETENTION_ENFORCE = previous;
    }
  }, 90_000);

  it("refuses a bad flag with a clear error", async () => {
    const { code, stderr } = await runCli("sweep", "--concurrency", "zero");
    expect(code).toBe(2);
    expect(stderr).toContain("--concurrency");
  });
});
