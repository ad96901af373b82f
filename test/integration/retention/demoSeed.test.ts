import type { TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO } from "../../../emulator/index.js";
import { loadConfig } from "../../../shared/config/config.js";
import { createTableClient } from "../../../shared/inventory/tableClients.js";
import { InMemoryAuditSink, openRegistry, type Registry } from "../../../shared/registry/index.js";
import {
  RegistryRetentionActions,
  readOnlyRegistry,
  TableRepositoryLeases,
  TableRetentionAuditLog,
} from "../../../shared/retention/adapters/index.js";
import { enforceRetention, planRegistryRetention } from "../../../shared/retention/enforce.js";
import type { RetentionPorts } from "../../../shared/retention/executor.js";
import type { RetentionDecision, RetentionPlan } from "../../../shared/retention/plan.js";
import { parseRetentionPolicy } from "../../../shared/retention/policy.js";
import { systemClock } from "../../../shared/retention/ports.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";

/**
 * Retention end to end on the emulator's `demo` seed: the real SDK over HTTPS for the registry,
 * Azurite for audit rows and leases. What must survive is worked out from the seed's description
 * (emulator/seeds.ts), not from the plan:
 *
 *   team/web   1.0.0 (190 d)  build-1141 (untagged, 150 d)  1.2.3 (120 d)  build-1187 (untagged, 95 d)
 *              1.10.0 (30 d)  index 1.11.0+latest (2 d) with amd64 and arm64 children (untagged, 2 d)
 *   team/api   2.0.0 (210 d, locked)  2.1.0+stable (45 d) with a signature and an SBOM (untagged referrers)
 *              build-2290 (untagged, 20 d)  2.2.0+latest (5 d)  dev-7f3c2a1 (1 d)
 *   tools/base 3.18 (300 d)  3.19+latest (100 d)  3.20-rc1 (untagged, 10 d)   (Docker schema 2)
 *
 * The policy touches every rule kind and every guard that the seed can exercise: a keep rule beating
 * a delete rule (team/web 1.0.0), the lock (2.0.0), `latest` (tools/base), index children, referrers
 * of a kept subject, and (in a preview) the per-repository cap.
 */
const POLICY = parseRetentionPolicy(`
version: 1
rules:
  - id: keep-first-release
    repositories: { include: ["team/web"] }
    keep: { tags: { glob: "1.0.0" } }
  - id: old-tags
    repositories: { include: ["**"] }
    delete: { taggedOlderThan: 90d }
  - id: untagged
    repositories: { include: ["**"] }
    delete: { untaggedOlderThan: 1d }
`);
const BIG_CAPS = { perRepository: 100, global: 1000 };
const DAY = 86_400_000;

let storage: string;
beforeAll(async () => {
  storage = await getTestStorage();
});
afterAll(stopTestStorage);

interface Harness {
  readonly env: TestEmulator;
  readonly registry: Registry;
  readonly fragile: Registry;
  readonly audit: TableClient;
  readonly ports: RetentionPorts;
}

async function harness(): Promise<Harness> {
  const env = await startTestEmulator({ seed: { kind: "demo" }, randomSeed: 11 });
  const registry = await openRegistry({
    registry: env.loginServer,
    credentials: { kind: "token", credential: env.credential },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
    audit: new InMemoryAuditSink(),
    actor: "retention integration test",
    retryPolicy: { baseDelayMs: 5, maxDelayMs: 50 },
  });
  // A second client that gives up at the first failure: with injected faults, listings break off,
  // manifests cannot be read and deletes fail, instead of being retried into success.
  const fragile = await openRegistry({
    registry: env.loginServer,
    credentials: { kind: "token", credential: env.credential },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
    audit: new InMemoryAuditSink(),
    retryPolicy: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  const config = loadConfig({ ACR_STEWARD_REGISTRIES: env.loginServer, ACR_STEWARD_STORAGE: storage });
  const audit = createTableClient(config.storage, uniqueName("audit"));
  const auditLog = new TableRetentionAuditLog(audit);
  const leases = new TableRepositoryLeases(createTableClient(config.storage, uniqueName("coordination")));
  await Promise.all([auditLog.ensureTable(), leases.ensureTable()]);
  return {
    env,
    registry,
    fragile,
    audit,
    ports: { registry: new RegistryRetentionActions(registry), audit: auditLog, leases, clock: systemClock },
  };
}

/** Everything the registry says about the demo repositories: manifests with tags and locks, and tags. */
async function fullListing(registry: Registry): Promise<string> {
  const result: Record<string, unknown> = {};
  for (const repository of DEMO.repositories) {
    const manifests = [];
    for await (const m of registry.listManifests(repository)) manifests.push(m);
    const tags = [];
    for await (const t of registry.listTags(repository)) tags.push(t);
    result[repository] = {
      manifests: manifests.sort((a, b) => (a.digest < b.digest ? -1 : 1)),
      tags: tags.sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
  }
  return JSON.stringify(result);
}

interface SeedFacts {
  /** digest → { repository, tags, ageDays, artifactType, subject, children } from the registry's own answers. */
  readonly manifests: Map<
    string,
    { repository: string; tags: string[]; ageDays: number; artifactType?: string; children: string[] }
  >;
  readonly byTag: Map<string, string>;
}

async function seedFacts(registry: Registry): Promise<SeedFacts> {
  const manifests: SeedFacts["manifests"] = new Map();
  const byTag = new Map<string, string>();
  for (const repository of DEMO.repositories) {
    for await (const m of registry.listManifests(repository)) {
      const details = await registry.inspect({ repository, digest: m.digest });
      manifests.set(m.digest, {
        repository,
        tags: [...m.tags],
        ageDays: Math.round((Date.now() - (m.createdAt?.getTime() ?? 0)) / DAY),
        ...(details.artifactType === undefined ? {} : { artifactType: details.artifactType }),
        children: details.platforms.map((p) => p.digest),
      });
      for (const tag of m.tags) byTag.set(`${repository}:${tag}`, m.digest);
    }
  }
  return { manifests, byTag };
}

function decisionsOf(plan: RetentionPlan): Map<string, RetentionDecision> {
  return new Map(plan.repositories.flatMap((repo) => repo.decisions.map((d) => [d.digest, d] as const)));
}

async function auditRows(audit: TableClient, runId: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const entity of audit.listEntities({ queryOptions: { filter: `runId eq '${runId}'` } }))
    rows.push(entity);
  return rows;
}

/** enforceRetention without a confirmation hook always executes; this narrows its result. */
async function enforce(...args: Parameters<typeof enforceRetention>) {
  const result = await enforceRetention(...args);
  if (result.status !== "executed") throw new Error("the run was declined");
  return result;
}

/** The whole demo registry under POLICY, asking for real deletions (the global switch decides). */
function enforceOnDemo(h: Harness, actor: string, options: { globalEnforce: boolean }) {
  return enforce(
    { enforce: true, actor },
    {
      registry: readOnlyRegistry(h.registry),
      policy: POLICY,
      caps: BIG_CAPS,
      ports: h.ports,
      globalEnforce: options.globalEnforce,
    },
    new Date(),
  );
}

/** What POLICY must delete, from the seed's description (see the top of this file). */
function expectedDeletions(facts: SeedFacts): Set<string> {
  const tagged = (ref: string) => {
    const digest = facts.byTag.get(ref);
    if (!digest) throw new Error(`the demo seed has no ${ref}`);
    return digest;
  };
  const untagged = (repository: string, ageDays: number) => {
    const found = [...facts.manifests].filter(
      ([, m]) =>
        m.repository === repository && m.tags.length === 0 && m.ageDays === ageDays && !m.artifactType,
    );
    expect(found, `${repository}: one untagged image of ${ageDays} days`).toHaveLength(1);
    return (found[0] as [string, unknown])[0];
  };
  return new Set([
    tagged("team/web:1.2.3"),
    untagged("team/web", 150),
    untagged("team/web", 95),
    untagged("team/api", 20),
    tagged("tools/base:3.18"),
    untagged("tools/base", 10),
  ]);
}

describe("retention on the demo seed", () => {
  let h: Harness;
  let facts: SeedFacts;
  let expectedDeleted: Set<string>;
  beforeAll(async () => {
    h = await harness();
    facts = await seedFacts(h.registry);
    expectedDeleted = expectedDeletions(facts);
  }, 30_000);
  afterAll(async () => {
    await h?.env.close();
  });

  it("previews every decision with its rule and reason, read-only", async () => {
    const before = await fullListing(h.registry);
    const { plan } = await planRegistryRetention(
      {},
      { registry: readOnlyRegistry(h.registry), policy: POLICY, caps: BIG_CAPS },
      new Date(),
    );
    expect(plan.repositories.map((r) => r.repository)).toEqual([...DEMO.repositories].sort());
    expect(plan.repositories.every((r) => r.listingComplete)).toBe(true);
    const decisions = decisionsOf(plan);
    expect(decisions.size).toBe(facts.manifests.size);

    const deleted = [...decisions.values()].filter((d) => d.action === "delete").map((d) => d.digest);
    expect(new Set(deleted)).toEqual(expectedDeleted);
    for (const digest of deleted)
      expect(decisions.get(digest)?.reason).toMatch(/^deleted by rule "(old-tags|untagged)"/);

    const byTag = (ref: string) => decisions.get(facts.byTag.get(ref) ?? "");
    expect(byTag("team/web:1.0.0")).toMatchObject({
      action: "keep",
      ruleId: "keep-first-release",
      guard: null,
    });
    expect(byTag(`${DEMO.locked.repository}:${DEMO.locked.tag}`)).toMatchObject({
      action: "keep",
      guard: "locked",
      ruleId: "old-tags",
    });
    expect(byTag("tools/base:latest")).toMatchObject({ action: "untag", tags: ["3.19"], ruleId: "old-tags" });
    expect(byTag("tools/base:latest")?.reason).toMatch(/latest stays/);

    const index = facts.manifests.get(
      facts.byTag.get(`${DEMO.multiArch.repository}:${DEMO.multiArch.tag}`) ?? "",
    );
    expect(index?.children).toHaveLength(2);
    for (const child of index?.children ?? []) {
      expect(decisions.get(child)).toMatchObject({
        action: "keep",
        guard: "index-child",
        ruleId: "untagged",
      });
    }
    const subject = facts.byTag.get(`${DEMO.referrerSubject.repository}:${DEMO.referrerSubject.tag}`);
    const referrers = [...facts.manifests].filter(([, m]) => m.artifactType !== undefined);
    expect(referrers).toHaveLength(2);
    for (const [digest] of referrers) {
      expect(decisions.get(digest)).toMatchObject({ action: "keep", guard: "referrer-subject" });
      expect(decisions.get(digest)?.reason).toContain((subject ?? "").slice(0, 19));
    }
    expect(plan.totals.bytesReclaimable).toBeGreaterThan(0);
    expect(plan.totals).toMatchObject({ delete: 6, untag: 1, tagsRemoved: 3 });

    // The per-repository cap holds back the newest actions of team/web (oldest go first).
    const capped = await planRegistryRetention(
      { repositories: ["team/web"] },
      { registry: readOnlyRegistry(h.registry), policy: POLICY, caps: { perRepository: 2, global: 10 } },
      new Date(),
    );
    const cappedDecisions = [...decisionsOf(capped.plan).values()];
    expect(cappedDecisions.filter((d) => d.action === "delete")).toHaveLength(2);
    expect(cappedDecisions.filter((d) => d.guard === "deletion-cap")).toHaveLength(1);

    expect(await fullListing(h.registry)).toBe(before);
  });

  it("a dry run changes nothing in the registry and audits what it would do", async () => {
    const before = await fullListing(h.registry);
    const result = await enforceOnDemo(h, "test:dry-run", { globalEnforce: false });
    expect(result.report.dryRun).toBe(true);
    expect(result.report.mode).toMatch(/ACR_STEWARD_RETENTION_ENFORCE/);
    expect(result.report.totals["would-delete"]).toBe(6);
    expect(result.report.totals["would-untag"]).toBe(1);
    expect(await fullListing(h.registry)).toBe(before);
    const rows = await auditRows(h.audit, result.report.runId);
    expect(rows.every((row) => row.dryRun === true)).toBe(true);
    expect(rows.filter((row) => row.outcome === "would-delete")).toHaveLength(6);
  });

  it("applies: the registry holds exactly the expected manifests, one audit row per action", async () => {
    const result = await enforceOnDemo(h, "test:apply", { globalEnforce: true });
    expect(result.report.dryRun).toBe(false);
    expect(result.report.totals).toMatchObject({ deleted: 6, untagged: 1, failed: 0, refused: 0 });

    const after = await seedFacts(h.registry);
    const expectedSurvivors = [...facts.manifests.keys()]
      .filter((digest) => !expectedDeleted.has(digest))
      .sort();
    expect([...after.manifests.keys()].sort()).toEqual(expectedSurvivors);

    // The multi-arch image with both platforms, the signed release with its referrers, the locked release.
    const index = facts.byTag.get(`${DEMO.multiArch.repository}:${DEMO.multiArch.tag}`) ?? "";
    expect(after.manifests.get(index)?.tags).toEqual(["1.11.0", "latest"]);
    for (const child of facts.manifests.get(index)?.children ?? [])
      expect(after.manifests.has(child)).toBe(true);
    const subject = facts.byTag.get(`${DEMO.referrerSubject.repository}:${DEMO.referrerSubject.tag}`) ?? "";
    expect(after.manifests.get(subject)?.tags).toEqual(["2.1.0", "stable"]);
    const referrers = await h.registry.listReferrers(DEMO.referrerSubject.repository, subject);
    expect(referrers).toHaveLength(2);
    const locked = facts.byTag.get(`${DEMO.locked.repository}:${DEMO.locked.tag}`) ?? "";
    expect(after.manifests.get(locked)?.tags).toEqual([DEMO.locked.tag]);
    // tools/base: 3.19 was removed, latest stays on the same image.
    expect(after.byTag.get("tools/base:latest")).toBe(facts.byTag.get("tools/base:3.19"));
    expect(after.byTag.has("tools/base:3.19")).toBe(false);

    const rows = await auditRows(h.audit, result.report.runId);
    const items = result.report.repositories.flatMap((repo) => repo.items);
    expect(rows).toHaveLength(items.length);
    expect(
      rows
        .filter((row) => row.outcome === "deleted")
        .map((row) => row.digest)
        .sort(),
    ).toEqual([...expectedDeleted].sort());
    const untag = rows.find((row) => row.outcome === "untagged");
    expect(untag).toMatchObject({
      action: "untag",
      tag: "3.19",
      ruleId: "old-tags",
      actor: "test:apply",
      dryRun: false,
    });
    for (const row of rows) {
      expect(row.reason).toEqual(expect.any(String));
      expect(row.category).toBe("retention");
    }
  });

  it("a second apply deletes nothing more", async () => {
    const result = await enforceOnDemo(h, "test:apply-again", { globalEnforce: true });
    expect(result.plan.totals).toMatchObject({ delete: 0, untag: 0 });
    expect(result.report.totals).toMatchObject({ deleted: 0, untagged: 0 });
  });
});

describe("two applies on one repository at once", () => {
  it("only the lease holder acts; the other reports the repository busy", async () => {
    const h = await harness();
    try {
      // The first run stops inside its first deletion, holding the lease, until the second has run.
      let releaseFirst: () => void = () => undefined;
      const gate = new Promise<void>((open) => {
        releaseFirst = open;
      });
      let signalActing: () => void = () => undefined;
      const firstIsActing = new Promise<void>((resolve) => {
        signalActing = resolve;
      });
      const actions = h.ports.registry;
      const firstPorts: RetentionPorts = {
        ...h.ports,
        registry: {
          deleteManifest: async (...args) => {
            signalActing();
            await gate;
            return actions.deleteManifest(...args);
          },
          untag: (...args) => actions.untag(...args),
        },
      };
      const run = (ports: RetentionPorts, actor: string) =>
        enforce(
          { repositories: ["team/web"], enforce: true, actor },
          {
            registry: readOnlyRegistry(h.registry),
            policy: POLICY,
            caps: BIG_CAPS,
            ports,
            globalEnforce: true,
          },
          new Date(),
        );
      const first = run(firstPorts, "test:first");
      await firstIsActing;
      const second = await run(h.ports, "test:second");
      releaseFirst();
      const firstResult = await first;

      expect(second.report.repositories).toEqual([
        expect.objectContaining({ repository: "team/web", status: "busy" }),
      ]);
      expect(second.report.totals.deleted).toBe(0);
      expect(firstResult.report.totals.deleted).toBe(3);
      const rows = await auditRows(h.audit, second.report.runId);
      expect(rows.every((row) => row.outcome === "busy")).toBe(true);
      // Afterwards the lease is free again: a third run may act (and finds nothing to do).
      const third = await run(h.ports, "test:third");
      expect(third.report.repositories.every((repo) => repo.status !== "busy")).toBe(true);
    } finally {
      await h.env.close();
    }
  });
});

describe("retention while the registry fails", () => {
  it("never deletes what must survive, and a later run without faults converges", async () => {
    const h = await harness();
    try {
      const facts = await seedFacts(h.registry);
      const expectedDeleted = expectedDeletions(facts);
      // Every third answer is a 500 or a 429: retries absorb most, some reads and deletes fail for good.
      h.env.emulator.setFaults({
        failRates: { "500": 0.2, "429": 0.15 },
        latencyMs: 0,
        retryAfterSeconds: 0,
        rateLimits: {},
      });
      const faulty = {
        failRates: { "500": 0.03, "429": 0.02 },
        latencyMs: 0,
        retryAfterSeconds: 0,
        rateLimits: {},
      };
      const healthy = { failRates: {}, latencyMs: 0, retryAfterSeconds: 0, rateLimits: {} };
      const seen = { runs: 0, crashed: 0, partial: 0, unreadableOrFailed: 0, unavailable: 0 };
      for (let attempt = 0; attempt < 8; attempt++) {
        h.env.emulator.setFaults({ ...faulty, randomSeed: attempt + 1 });
        const ports = { ...h.ports, registry: new RegistryRetentionActions(h.fragile) };
        try {
          const result = await enforce(
            { repositories: DEMO.repositories, enforce: true, actor: "test:chaos" },
            {
              registry: readOnlyRegistry(h.fragile),
              policy: POLICY,
              caps: BIG_CAPS,
              ports,
              globalEnforce: true,
              load: { pageSize: 3 },
            },
            new Date(),
          );
          seen.runs += 1;
          seen.unavailable += result.unavailableRepositories.length;
          if (result.plan.repositories.some((repo) => !repo.listingComplete)) seen.partial += 1;
          const guarded = result.plan.repositories
            .flatMap((repo) => repo.decisions)
            .some((d) => d.guard === "metadata-unreadable");
          if (guarded || result.report.totals.failed > 0) seen.unreadableOrFailed += 1;
        } catch {
          seen.crashed += 1;
        }
        h.env.emulator.setFaults(healthy);
        const now = await seedFacts(h.registry);
        const gone = [...facts.manifests.keys()].filter((digest) => !now.manifests.has(digest));
        for (const digest of gone)
          expect(expectedDeleted.has(digest), `${digest} must not be deleted`).toBe(true);
      }
      // The faults did reach the run (otherwise this test would prove nothing).
      expect(seen.crashed + seen.partial + seen.unreadableOrFailed + seen.unavailable).toBeGreaterThan(0);
      h.env.emulator.setFaults({ failRates: {}, latencyMs: 0, retryAfterSeconds: 0, rateLimits: {} });
      await enforceOnDemo(h, "test:after-chaos", { globalEnforce: true });
      const after = await seedFacts(h.registry);
      expect([...after.manifests.keys()].sort()).toEqual(
        [...facts.manifests.keys()].filter((digest) => !expectedDeleted.has(digest)).sort(),
      );
    } finally {
      await h.env.close();
    }
  });
});
