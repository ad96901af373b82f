import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  COSIGN_REFERRER_TAG,
  type RepositoryListing,
  type RetentionCandidate,
} from "../../../shared/retention/candidates.js";
import type { RetentionPlan } from "../../../shared/retention/plan.js";
import { planRetention } from "../../../shared/retention/planner.js";
import { compileRetentionPolicy, type RetentionPolicy } from "../../../shared/retention/policy.js";
import { compareSemanticVersions, parseSemanticVersion } from "../../../shared/retention/semver.js";
import { policyArbitrary, registryArbitrary, shuffled } from "./arbitraries.js";
import { InMemoryRegistry, NOW, UNLIMITED } from "./fixtures.js";

/**
 * Properties over random registries and random policies. The keep-rule oracle below is written
 * independently of the planner, from the semantics in docs/policy.md, and looks only at the
 * registry as it was before planning.
 */

const capsArbitrary = fc.record({
  perRepository: fc.integer({ min: 0, max: 6 }),
  global: fc.integer({ min: 0, max: 12 }),
});
const RUNS = { numRuns: 250 };

function subjectsOf(candidate: RetentionCandidate): string[] {
  const subjects = candidate.subject ? [candidate.subject] : [];
  for (const tag of candidate.tags) {
    const match = COSIGN_REFERRER_TAG.exec(tag.name);
    if (match) subjects.push(`sha256:${match[1]}`);
  }
  return subjects;
}

/** Tags (by manifest) that some keep rule protects; "*" means the whole manifest. */
function keepOracle(listing: RepositoryListing, policy: RetentionPolicy): Map<string, Set<string>> {
  const compiled = compileRetentionPolicy(policy);
  const nowMs = NOW.getTime();
  const protectedTags = new Map<string, Set<string>>();
  const protect = (digest: string, tags: string[]) => {
    const set = protectedTags.get(digest) ?? new Set<string>();
    for (const tag of tags) set.add(tag);
    protectedTags.set(digest, set);
  };
  for (const rule of compiled.rules) {
    if (rule.kind !== "keep" || !rule.appliesToRepository(listing.repository)) continue;
    const matchingTags = (candidate: RetentionCandidate) =>
      candidate.tags.map((tag) => tag.name).filter((name) => !rule.tagMatcher || rule.tagMatcher(name));
    let top: Set<string> | undefined;
    if (rule.rank) {
      const rank = rule.rank;
      const population = listing.manifests
        .filter((candidate) => candidate.metadataReadable && subjectsOf(candidate).length === 0)
        .map((candidate) => {
          const versions = matchingTags(candidate)
            .map(parseSemanticVersion)
            .filter((version) => version !== undefined)
            .sort((left, right) => compareSemanticVersions(right, left));
          return { candidate, considered: matchingTags(candidate), version: versions[0] };
        })
        .filter((entry) => entry.considered.length > 0 && (rank.orderBy !== "semver" || entry.version));
      population.sort(
        (left, right) =>
          (rank.orderBy === "semver" && left.version && right.version
            ? compareSemanticVersions(right.version, left.version)
            : 0) ||
          Date.parse(right.candidate.pushedAt ?? "") - Date.parse(left.candidate.pushedAt ?? "") ||
          (left.candidate.digest < right.candidate.digest ? -1 : 1),
      );
      top = new Set(population.slice(0, rank.count).map((entry) => entry.candidate.digest));
    }
    for (const candidate of listing.manifests) {
      if (!candidate.metadataReadable) continue;
      const matching = matchingTags(candidate);
      if (rule.tagMatcher && matching.length === 0) continue;
      if (top && !top.has(candidate.digest)) continue;
      if (rule.newerThanMs !== undefined) {
        const times = [
          candidate.pushedAt,
          candidate.updatedAt,
          ...candidate.tags.filter((tag) => matching.includes(tag.name)).map((tag) => tag.updatedAt),
        ]
          .filter((time) => time !== undefined)
          .map((time) => Date.parse(time));
        if (!(nowMs - Math.max(...times) < rule.newerThanMs)) continue;
      }
      protect(candidate.digest, rule.tagMatcher ? matching : ["*"]);
    }
  }
  return protectedTags;
}

function assertSafety(listings: RepositoryListing[], policy: RetentionPolicy, plan: RetentionPlan): void {
  for (const listing of listings) {
    const repoPlan = plan.repositories.find((candidate) => candidate.repository === listing.repository);
    if (!repoPlan) throw new Error(`repository ${listing.repository} missing from the plan`);
    const decisions = new Map(repoPlan.decisions.map((decision) => [decision.digest, decision]));
    expect(decisions.size).toBe(new Set(listing.manifests.map((candidate) => candidate.digest)).size);
    const keepers = keepOracle(listing, policy);
    const survives = (digest: string) => decisions.get(digest)?.action !== "delete";
    const maybeIndexUnreadable = listing.manifests.some(
      (candidate) =>
        !candidate.metadataReadable && candidate.mediaType !== "application/vnd.oci.image.manifest.v1+json",
    );
    for (const candidate of listing.manifests) {
      const decision = decisions.get(candidate.digest);
      if (!decision) throw new Error("missing decision");
      const context = `${listing.repository} ${candidate.digest}: ${decision.action} ${decision.tags.join(",")} — ${decision.reason}`;
      const removed =
        decision.action === "delete"
          ? candidate.tags.map((tag) => tag.name)
          : decision.action === "untag"
            ? decision.tags
            : [];
      if (decision.action !== "keep") {
        expect(decision.guard, context).toBeNull();
        expect(listing.listingComplete, context).toBe(true);
        expect(candidate.metadataReadable, context).toBe(true);
        expect(candidate.deleteEnabled && candidate.writeEnabled, context).toBe(true);
      }
      if (decision.action === "delete") expect(maybeIndexUnreadable, context).toBe(false);
      const kept = keepers.get(candidate.digest);
      if (kept?.has("*")) expect(decision.action, context).toBe("keep");
      if (kept && kept.size > 0) expect(decision.action, context).not.toBe("delete");
      for (const tag of removed) {
        expect(kept?.has(tag) ?? false, `${context} removes protected ${tag}`).toBe(false);
        const tagState = candidate.tags.find((entry) => entry.name === tag);
        expect(
          tagState?.deleteEnabled === false || tagState?.writeEnabled === false,
          `${context} removes locked ${tag}`,
        ).toBe(false);
        if (policy.protectLatest ?? true) expect(tag, context).not.toBe("latest");
      }
      if (survives(candidate.digest)) {
        for (const child of candidate.children) {
          if (decisions.has(child))
            expect(decisions.get(child)?.action, `child ${child} of surviving ${context}`).not.toBe("delete");
        }
      }
      for (const subject of subjectsOf(candidate)) {
        if (decisions.has(subject) && survives(subject)) {
          expect(decision.action, `referrer of surviving ${subject}: ${context}`).toBe("keep");
        }
      }
    }
  }
}

describe("Function: planRetention (properties)", () => {
  it("never acts against a keep rule or a guard, and decides every manifest once", () => {
    fc.assert(
      fc.property(registryArbitrary, policyArbitrary, (listings, policy) => {
        const plan = planRetention(listings, policy, { now: NOW, caps: UNLIMITED });
        assertSafety(listings, policy, plan);
      }),
      RUNS,
    );
  });

  it("never exceeds the caps, and the guards still hold once the caps cut", () => {
    fc.assert(
      fc.property(registryArbitrary, policyArbitrary, capsArbitrary, (listings, policy, caps) => {
        const plan = planRetention(listings, policy, { now: NOW, caps });
        let total = 0;
        for (const repo of plan.repositories) {
          const actions = repo.decisions.filter((decision) => decision.action !== "keep").length;
          expect(actions).toBeLessThanOrEqual(caps.perRepository);
          total += actions;
        }
        expect(total).toBeLessThanOrEqual(caps.global);
        assertSafety(listings, policy, plan);
      }),
      RUNS,
    );
  });

  it("is idempotent: after applying a plan, planning again finds nothing more", () => {
    fc.assert(
      fc.property(registryArbitrary, policyArbitrary, (listings, policy) => {
        const registry = new InMemoryRegistry(listings);
        const first = planRetention(registry.listings(), policy, { now: NOW, caps: UNLIMITED });
        registry.applyPlan(first);
        const second = planRetention(registry.listings(), policy, { now: NOW, caps: UNLIMITED });
        const leftovers = second.repositories.flatMap((repo) =>
          repo.decisions
            .filter((decision) => decision.action !== "keep")
            .map((decision) => `${repo.repository} ${decision.action} ${decision.reason}`),
        );
        expect(leftovers).toEqual([]);
      }),
      RUNS,
    );
  });

  it("gives the same plan whatever the order of repositories, manifests, tags and children", () => {
    fc.assert(
      fc.property(
        registryArbitrary,
        policyArbitrary,
        capsArbitrary,
        fc.integer(),
        (listings, policy, caps, seed) => {
          let state = seed;
          const random = () => {
            state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
            return state / 0x80000000;
          };
          const plan = planRetention(listings, policy, { now: NOW, caps });
          const again = planRetention(shuffled(listings, random), policy, { now: NOW, caps });
          expect(again).toEqual(plan);
        },
      ),
      RUNS,
    );
  });

  it("totals add up", () => {
    fc.assert(
      fc.property(registryArbitrary, policyArbitrary, capsArbitrary, (listings, policy, caps) => {
        const plan = planRetention(listings, policy, { now: NOW, caps });
        const all = plan.repositories.flatMap((repo) => repo.decisions);
        expect(plan.totals.manifests).toBe(all.length);
        expect(plan.totals.keep + plan.totals.delete + plan.totals.untag).toBe(all.length);
        expect(plan.totals.bytesReclaimable).toBe(
          all
            .filter((decision) => decision.action === "delete")
            .reduce((sum, decision) => sum + decision.sizeInBytes, 0),
        );
      }),
      { numRuns: 100 },
    );
  });
});
