import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../../shared/errors/index.js";
import { executeRetentionPlan } from "../../../shared/retention/executor.js";
import type { RetentionPlan } from "../../../shared/retention/plan.js";
import { planRetention } from "../../../shared/retention/planner.js";
import { validateRetentionPolicy } from "../../../shared/retention/policy.js";
import { policyArbitrary, registryArbitrary } from "./arbitraries.js";
import {
  digestOf,
  explodingRegistry,
  InMemoryRegistry,
  listing,
  MemoryAuditLog,
  MemoryLeases,
  manifest,
  NOW,
  SteppingClock,
  UNLIMITED,
} from "./fixtures.js";

const policy = validateRetentionPolicy({
  version: 1,
  rules: [
    { id: "keep-releases", repositories: { include: ["**"] }, keep: { tags: { glob: "v*" } } },
    { id: "old-tags", repositories: { include: ["**"] }, delete: { taggedOlderThan: "30d" } },
    { id: "untagged", repositories: { include: ["**"] }, delete: { untaggedOlderThan: "7d" } },
  ],
});

/** team/web: a (old, deleted), b (release + old tag: untag), c (untagged: deleted), d (kept). api: e deleted. */
function sampleListings() {
  return [
    listing("team/web", [
      manifest("a", { pushedDaysAgo: 90, tags: ["build-1"] }),
      manifest("b", { pushedDaysAgo: 80, tags: ["v1.0.0", "build-2"] }),
      manifest("c", { pushedDaysAgo: 70 }),
      manifest("d", { pushedDaysAgo: 1, tags: ["build-3"] }),
    ]),
    listing("team/api", [manifest("e", { pushedDaysAgo: 60, tags: ["build-9"] })]),
  ];
}

function setup(listings = sampleListings()) {
  const registry = new InMemoryRegistry(listings);
  const audit = new MemoryAuditLog();
  const leases = new MemoryLeases();
  const clock = new SteppingClock();
  const plan = planRetention(listings, policy, { now: NOW, caps: UNLIMITED });
  return { registry, audit, leases, clock, plan, ports: { registry, audit, leases, clock } };
}

const baseOptions = { actor: "test:alice", caps: UNLIMITED, runId: "run-1" };

describe("Function: executeRetentionPlan", () => {
  it("deletes exactly the planned digests, each once, and untags exactly the planned tags", async () => {
    const { registry, audit, leases, plan, ports } = setup();
    const report = await executeRetentionPlan(plan, ports, {
      ...baseOptions,
      enforce: true,
      globalEnforce: true,
    });

    expect(report.dryRun).toBe(false);
    expect([...registry.calls].sort()).toEqual(
      [
        `delete team/api@${digestOf("e")}`,
        `delete team/web@${digestOf("a")}`,
        `delete team/web@${digestOf("c")}`,
        "untag team/web:build-2",
      ].sort(),
    );
    const web = registry.listings().find((entry) => entry.repository === "team/web");
    expect(web?.manifests.map((entry) => [entry.digest, entry.tags.map((tag) => tag.name)])).toEqual([
      [digestOf("b"), ["v1.0.0"]],
      [digestOf("d"), ["build-3"]],
    ]);
    expect(report.totals).toMatchObject({ deleted: 3, untagged: 1, failed: 0 });
    expect(audit.rows).toHaveLength(4);
    expect(
      audit.rows.every((row) => row.dryRun === false && row.actor === "test:alice" && row.ruleId !== null),
    ).toBe(true);
    expect(new Set(audit.rows.map((row) => row.id)).size).toBe(4);
    expect(leases.log).toEqual([
      "acquire team/api",
      "release team/api",
      "acquire team/web",
      "release team/web",
    ]);
  });

  it.each([
    ["enforcement not requested", { globalEnforce: true }, "not requested"],
    ["the global switch off", { enforce: true, globalEnforce: false }, "switched off globally"],
    ["neither", { enforce: false, globalEnforce: false }, "not requested"],
  ])(
    "is a dry run with %s: never calls the registry, takes no lease, still audits",
    async (_title, flags, mode) => {
      const { audit, leases, plan, clock } = setup();
      const report = await executeRetentionPlan(
        plan,
        { registry: explodingRegistry, audit, leases, clock },
        { ...baseOptions, ...flags },
      );
      expect(report.dryRun).toBe(true);
      expect(report.mode).toContain(mode);
      expect(report.totals).toMatchObject({ "would-delete": 3, "would-untag": 1, deleted: 0, failed: 0 });
      expect(
        audit.rows.map((row) => [row.repository, row.digest, row.tag ?? null, row.outcome, row.dryRun]),
      ).toEqual([
        ["team/api", digestOf("e"), null, "would-delete", true],
        ["team/web", digestOf("a"), null, "would-delete", true],
        ["team/web", digestOf("b"), "build-2", "would-untag", true],
        ["team/web", digestOf("c"), null, "would-delete", true],
      ]);
      expect(leases.log).toEqual([]);
    },
  );

  it("treats not-found as done and locked as skipped, and keeps going after a failure", async () => {
    const { registry, plan, ports } = setup();
    const web = registry.repositories.get("steward.azurecr.io/team/web");
    if (!web) throw new Error("setup");
    web.manifests = web.manifests.filter((entry) => entry.digest !== digestOf("a"));
    const c = web.manifests.find((entry) => entry.digest === digestOf("c"));
    if (c) c.deleteEnabled = false;
    registry.failOn.add(digestOf("e"));
    const report = await executeRetentionPlan(plan, ports, {
      ...baseOptions,
      enforce: true,
      globalEnforce: true,
    });
    const outcomes = Object.fromEntries(
      report.repositories.flatMap((repo) =>
        repo.items.map((item) => [item.tag ?? item.digest, item.outcome]),
      ),
    );
    expect(outcomes).toEqual({
      [digestOf("a")]: "already-gone",
      [digestOf("c")]: "locked",
      [digestOf("e")]: "failed",
      "build-2": "untagged",
    });
    expect(
      report.repositories.flatMap((repo) => repo.items).find((item) => item.outcome === "failed")?.error,
    ).toContain("registry exploded");
  });

  it("leaves a manifest alone when it gained a tag after planning, and a tag when it moved", async () => {
    const { registry, plan, ports } = setup();
    const web = registry.repositories.get("steward.azurecr.io/team/web");
    const a = web?.manifests.find((entry) => entry.digest === digestOf("a"));
    const d = web?.manifests.find((entry) => entry.digest === digestOf("d"));
    const b = web?.manifests.find((entry) => entry.digest === digestOf("b"));
    if (!a || !d || !b) throw new Error("setup");
    a.tags.push({ name: "hotfix" });
    b.tags = b.tags.filter((tag) => tag.name !== "build-2");
    d.tags.push({ name: "build-2" });
    const report = await executeRetentionPlan(plan, ports, {
      ...baseOptions,
      enforce: true,
      globalEnforce: true,
    });
    const web2 = registry.listings().find((entry) => entry.repository === "team/web");
    expect(web2?.manifests.map((entry) => entry.digest)).toContain(digestOf("a"));
    expect(
      web2?.manifests.find((entry) => entry.digest === digestOf("d"))?.tags.map((tag) => tag.name),
    ).toContain("build-2");
    expect(report.totals["changed-since-plan"]).toBe(2);
  });

  it("skips a repository whose lease another worker holds, and reports it busy", async () => {
    const { registry, leases, plan, ports } = setup();
    await leases.acquire("steward.azurecr.io", "team/web", "someone-else", 60_000);
    const report = await executeRetentionPlan(plan, ports, {
      ...baseOptions,
      enforce: true,
      globalEnforce: true,
    });
    expect(registry.calls).toEqual([`delete team/api@${digestOf("e")}`]);
    expect(report.repositories.find((repo) => repo.repository === "team/web")?.status).toBe("busy");
    expect(report.totals.busy).toBe(3);
  });

  it("never exceeds its own caps, even when the plan was made with larger ones", async () => {
    const { registry, plan, ports } = setup();
    const report = await executeRetentionPlan(plan, ports, {
      ...baseOptions,
      caps: { perRepository: 1, global: 2 },
      enforce: true,
      globalEnforce: true,
    });
    expect(registry.calls).toHaveLength(2);
    expect(report.totals["cap-reached"]).toBe(2);
  });

  it("refuses decisions that carry a guard and repositories listed partially, even in a tampered plan", async () => {
    const { registry, plan, ports } = setup();
    const tampered: RetentionPlan = structuredClone(plan);
    for (const repo of tampered.repositories) {
      for (const decision of repo.decisions) {
        if (decision.digest === digestOf("d"))
          Object.assign(decision, { action: "delete", tags: ["build-3"], guard: "locked" });
      }
      if (repo.repository === "team/api") repo.listingComplete = false;
    }
    const report = await executeRetentionPlan(tampered, ports, {
      ...baseOptions,
      enforce: true,
      globalEnforce: true,
    });
    expect(registry.calls.some((call) => call.includes(digestOf("d")))).toBe(false);
    expect(registry.calls.some((call) => call.startsWith("delete team/api"))).toBe(false);
    expect(report.repositories.find((repo) => repo.repository === "team/api")?.status).toBe(
      "refused-partial-listing",
    );
    expect(report.totals.refused).toBe(2);
  });

  it("reports a repository busy when the lease store fails, and carries on with the others", async () => {
    const { registry, plan, audit, clock } = setup();
    const failingLeases = {
      acquire: async (_registry: string, repository: string) => {
        if (repository === "team/web") throw new Error("table unavailable");
        return { release: async () => undefined };
      },
    };
    const report = await executeRetentionPlan(
      plan,
      { registry, audit, leases: failingLeases, clock },
      {
        ...baseOptions,
        enforce: true,
        globalEnforce: true,
      },
    );
    expect(registry.calls).toEqual([`delete team/api@${digestOf("e")}`]);
    const web = report.repositories.find((repo) => repo.repository === "team/web");
    expect(web?.status).toBe("busy");
    expect(web?.items[0]?.error).toContain("table unavailable");
  });

  it("refuses invalid caps before doing anything", async () => {
    const { registry, plan, ports } = setup();
    await expect(
      executeRetentionPlan(plan, ports, {
        ...baseOptions,
        caps: { perRepository: -1, global: 5 },
        enforce: true,
        globalEnforce: true,
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(registry.calls).toEqual([]);
  });

  it("refuses a malformed plan before doing anything", async () => {
    const { registry, plan, ports } = setup();
    const broken = structuredClone(plan) as unknown as {
      repositories: { decisions: { digest: string }[] }[];
    };
    const first = broken.repositories[0]?.decisions[0];
    if (first) first.digest = "sha256:../../etc";
    await expect(
      executeRetentionPlan(broken as unknown as RetentionPlan, ports, {
        ...baseOptions,
        enforce: true,
        globalEnforce: true,
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(registry.calls).toEqual([]);
  });

  it("stops when the abort signal fires, before the next registry call", async () => {
    const { plan, audit, leases, clock } = setup();
    const controller = new AbortController();
    const calls: string[] = [];
    const registry = {
      deleteManifest: async (_registry: string, _repository: string, digest: string) => {
        calls.push(digest);
        controller.abort();
        return "deleted" as const;
      },
      untag: async () => "untagged" as const,
    };
    const report = await executeRetentionPlan(
      plan,
      { registry, audit, leases, clock },
      {
        ...baseOptions,
        enforce: true,
        globalEnforce: true,
        signal: controller.signal,
      },
    );
    expect(calls).toHaveLength(1);
    expect(report.stoppedEarly).toBe(true);
    expect(report.totals.aborted).toBe(3);
    expect(leases.held.size).toBe(0);
  });

  it("stops acting in a repository before its lease runs out", async () => {
    const { registry, plan, audit, leases } = setup();
    const slowClock = new SteppingClock(NOW.getTime(), 30_000);
    const report = await executeRetentionPlan(
      plan,
      { registry, audit, leases, clock: slowClock },
      {
        ...baseOptions,
        enforce: true,
        globalEnforce: true,
        leaseTtlMs: 100_000,
      },
    );
    expect(report.stoppedEarly).toBe(true);
    expect(report.totals.aborted).toBeGreaterThan(0);
  });

  it("stops everything when the audit log cannot be written", async () => {
    const { registry, audit, plan, ports } = setup();
    audit.failAfter = 1;
    const report = await executeRetentionPlan(plan, ports, {
      ...baseOptions,
      enforce: true,
      globalEnforce: true,
    });
    expect(registry.calls).toHaveLength(2);
    expect(report.stoppedEarly).toBe(true);
    expect(report.repositories.map((repo) => repo.status)).toEqual(["completed", "audit-failed"]);
  });

  it("skips actions of a later pass when an earlier action in the repository did not complete", async () => {
    const twoPass = validateRetentionPolicy({
      version: 1,
      rules: [
        { id: "keep-1-5", repositories: { include: ["**"] }, keep: { tags: { glob: "v1.5*" } } },
        { id: "drop-pr", repositories: { include: ["**"] }, delete: { tags: { glob: "*-pr" } } },
        {
          id: "highest-only",
          repositories: { include: ["**"] },
          delete: { tags: { glob: "v*" }, beyondMostRecent: { count: 1, orderBy: "semver" } },
        },
      ],
    });
    const listings = [
      listing("team/web", [
        manifest("a", { pushedDaysAgo: 10, tags: ["v2.0.0-pr", "v1.0.0"] }),
        manifest("b", { pushedDaysAgo: 20, tags: ["v1.5.0"] }),
        manifest("c", { pushedDaysAgo: 30, tags: ["v0.9.0-pr"] }),
      ]),
    ];
    const plan = planRetention(listings, twoPass, { now: NOW, caps: UNLIMITED });
    const a = plan.repositories[0]?.decisions.find((decision) => decision.digest === digestOf("a"));
    expect(a).toMatchObject({ action: "delete", pass: 2 });
    const registry = new InMemoryRegistry(listings);
    registry.failOn.add(digestOf("c"));
    const report = await executeRetentionPlan(
      plan,
      { registry, audit: new MemoryAuditLog(), leases: new MemoryLeases(), clock: new SteppingClock() },
      {
        ...baseOptions,
        enforce: true,
        globalEnforce: true,
      },
    );
    expect(report.repositories[0]?.items.find((item) => item.digest === digestOf("a"))?.outcome).toBe(
      "skipped-dependency",
    );
    expect(registry.calls).toEqual([`delete team/web@${digestOf("c")}`]);
  });
});

describe("Function: executeRetentionPlan (properties)", () => {
  it("on random registries, deletes and untags exactly what the plan says, each once; dry runs call nothing", async () => {
    await fc.assert(
      fc.asyncProperty(registryArbitrary, policyArbitrary, async (listings, randomPolicy) => {
        const plan = planRetention(listings, randomPolicy, { now: NOW, caps: UNLIMITED });
        const expected = plan.repositories.flatMap((repo) =>
          repo.decisions.flatMap((decision) =>
            decision.action === "delete"
              ? [`delete ${repo.repository}@${decision.digest}`]
              : decision.action === "untag"
                ? decision.tags.map((tag) => `untag ${repo.repository}:${tag}`)
                : [],
          ),
        );
        const registry = new InMemoryRegistry(listings);
        const ports = {
          registry,
          audit: new MemoryAuditLog(),
          leases: new MemoryLeases(),
          clock: new SteppingClock(),
        };
        await executeRetentionPlan(plan, ports, { ...baseOptions, enforce: true, globalEnforce: true });
        expect([...registry.calls].sort()).toEqual([...expected].sort());
        expect(ports.audit.rows).toHaveLength(expected.length);

        const dryAudit = new MemoryAuditLog();
        const dry = await executeRetentionPlan(
          plan,
          {
            registry: explodingRegistry,
            audit: dryAudit,
            leases: new MemoryLeases(),
            clock: new SteppingClock(),
          },
          { ...baseOptions, enforce: true, globalEnforce: false },
        );
        expect(dry.totals.failed).toBe(0);
        expect(dryAudit.rows.every((row) => row.dryRun)).toBe(true);
        expect(dryAudit.rows).toHaveLength(expected.length);
      }),
      { numRuns: 100 },
    );
  });
});
