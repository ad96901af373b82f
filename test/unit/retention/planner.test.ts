import { describe, expect, it } from "vitest";
import type { RepositoryListing } from "../../../shared/retention/candidates.js";
import { RetentionPlanSchema } from "../../../shared/retention/plan.js";
import { planRetention } from "../../../shared/retention/planner.js";
import { type RetentionPolicy, validateRetentionPolicy } from "../../../shared/retention/policy.js";
import { daysAgo, decisionFor, digestOf, listing, manifest, NOW, UNLIMITED } from "./fixtures.js";

/** Table-driven semantics beyond the worked examples of docs/policy.md. */

const scopeAll = { include: ["**"] };
function rules(...list: Record<string, unknown>[]): RetentionPolicy {
  return validateRetentionPolicy({
    version: 1,
    rules: list.map((rule, index) => ({ id: `r${index}`, repositories: scopeAll, ...rule })),
  });
}
function plan(listings: RepositoryListing[], policy: RetentionPolicy, caps = UNLIMITED) {
  return planRetention(listings, policy, { now: NOW, caps });
}

describe("Function: planRetention (semantics)", () => {
  it("returns a plan that satisfies its own schema, with a decision and a reason for every manifest", () => {
    const result = plan(
      [listing("team/web", [manifest("a", { tags: ["x"] }), manifest("b"), manifest("c", { tags: ["v1"] })])],
      rules({ delete: { taggedOlderThan: "30d" } }),
    );
    expect(RetentionPlanSchema.parse(result)).toEqual(result);
    expect(result.repositories[0]?.decisions.map((decision) => decision.digest)).toEqual(
      ["a", "b", "c"].map(digestOf).sort(),
    );
    expect(result.totals).toMatchObject({ manifests: 3, delete: 2, keep: 1, bytesReclaimable: 2_000 });
  });

  const cases: [string, RetentionPolicy, ReturnType<typeof manifest>[], Record<string, string>][] = [
    [
      "a re-tagged image is young again for taggedOlderThan",
      rules({ delete: { taggedOlderThan: "30d" } }),
      [manifest("a", { pushedDaysAgo: 300, tags: [{ name: "stable", updatedDaysAgo: 2 }] })],
      { a: "keep" },
    ],
    [
      "newerThan counts a recent tag push on an old manifest",
      rules({ keep: { newerThan: "7d" } }, { delete: { taggedOlderThan: "1d" } }),
      [
        manifest("a", {
          pushedDaysAgo: 300,
          tags: [
            { name: "x", updatedDaysAgo: 10 },
            { name: "y", updatedDaysAgo: 3 },
          ],
        }),
      ],
      { a: "keep" },
    ],
    [
      "protectLatest: false lets latest go",
      validateRetentionPolicy({
        version: 1,
        protectLatest: false,
        rules: [{ id: "r0", repositories: scopeAll, delete: { taggedOlderThan: "30d" } }],
      }),
      [manifest("a", { tags: ["latest"] })],
      { a: "delete" },
    ],
    [
      "latest is protected by default, and so is its image",
      rules({ delete: { tags: { glob: "*" } } }),
      [manifest("a", { tags: ["latest"] })],
      { a: "keep:latest-tag" },
    ],
    [
      "a keep rule without tag condition protects every tag",
      rules({ keep: { mostRecent: { count: 1 } } }, { delete: { tags: { glob: "pr-*" } } }),
      [
        manifest("a", { pushedDaysAgo: 1, tags: ["pr-1", "v1"] }),
        manifest("b", { pushedDaysAgo: 2, tags: ["pr-2", "v2"] }),
      ],
      { a: "keep", b: "untag" },
    ],
    [
      "mostRecent without tag condition ranks tagged manifests only",
      rules({ keep: { mostRecent: { count: 1 } } }, { delete: { untaggedOlderThan: "1h" } }),
      [manifest("a", { pushedDaysAgo: 1 }), manifest("b", { pushedDaysAgo: 5, tags: ["x"] })],
      { a: "delete", b: "keep" },
    ],
    [
      "untagged count condition ranks untagged manifests by push time",
      rules({ delete: { untaggedOlderThan: "1d", beyondMostRecent: { count: 1 } } }),
      [
        manifest("a", { pushedDaysAgo: 10 }),
        manifest("b", { pushedDaysAgo: 20 }),
        manifest("c", { pushedDaysAgo: 5, tags: ["t"] }),
      ],
      { a: "keep", b: "delete", c: "keep" },
    ],
    [
      "untaggedOlderThan counts the registry's last update (e.g. the untag) as activity",
      rules({ delete: { untaggedOlderThan: "7d" } }),
      [{ ...manifest("a", { pushedDaysAgo: 100 }), updatedAt: daysAgo(2) }],
      { a: "keep" },
    ],
    [
      "nested indexes keep their grandchildren",
      rules({ keep: { tags: { glob: "*" } } }, { delete: { untaggedOlderThan: "1h" } }),
      [
        manifest("top", { tags: ["1.0"], children: ["mid"] }),
        manifest("mid", { children: ["leaf"] }),
        manifest("leaf"),
      ],
      { top: "keep", mid: "keep:index-child", leaf: "keep:index-child" },
    ],
    [
      "a child shared by a deleted and a surviving index stays",
      rules({ delete: { tags: { glob: "old" } } }, { delete: { untaggedOlderThan: "1h" } }),
      [
        manifest("i1", { tags: ["old"], children: ["shared", "only1"] }),
        manifest("i2", { tags: ["new"], children: ["shared"] }),
        manifest("shared"),
        manifest("only1"),
      ],
      { i1: "delete", i2: "keep", shared: "keep:index-child", only1: "delete" },
    ],
    [
      "a signature of a signature follows the chain",
      rules({ keep: { tags: { glob: "v*" } } }, { delete: { untaggedOlderThan: "1h" } }),
      [
        manifest("img", { tags: ["v1"] }),
        manifest("sig", { subject: "img" }),
        manifest("sigsig", { subject: "sig" }),
      ],
      { img: "keep", sig: "keep:referrer-subject", sigsig: "keep:referrer-subject" },
    ],
    [
      "a referrer of a kept platform child survives (subject is a child, not the index)",
      rules({ keep: { tags: { glob: "*" } } }, { delete: { untaggedOlderThan: "1h" } }),
      [
        manifest("idx", { tags: ["1"], children: ["amd"] }),
        manifest("amd"),
        manifest("sbom", { subject: "amd" }),
      ],
      { idx: "keep", amd: "keep:index-child", sbom: "keep:referrer-subject" },
    ],
    [
      "a locked manifest is not untagged either",
      rules({ delete: { tags: { glob: "pr-*" } } }),
      [manifest("a", { tags: ["pr-1", "v1"], locked: true })],
      { a: "keep:locked" },
    ],
    [
      "a tag listed on two manifests makes the listing inconsistent",
      rules({ delete: { taggedOlderThan: "1d" } }),
      [manifest("a", { tags: ["x"] }), manifest("b", { tags: ["x", "y"] })],
      { a: "keep:partial-listing", b: "keep:partial-listing" },
    ],
    [
      "a manifest without push time is kept (fail closed)",
      rules({ delete: { tags: { glob: "x" } } }, { delete: { taggedOlderThan: "1d" } }),
      [
        { ...manifest("a", { tags: ["x"] }), pushedAt: undefined },
        { ...manifest("b", { tags: ["y"] }), pushedAt: undefined },
      ],
      { a: "keep:metadata-unreadable", b: "keep" },
    ],
    [
      "keep rules only apply inside their scope",
      validateRetentionPolicy({
        version: 1,
        rules: [
          { id: "keep-elsewhere", repositories: { include: ["other/**"] }, keep: { newerThan: "100w" } },
          { id: "drop", repositories: scopeAll, delete: { taggedOlderThan: "1d" } },
        ],
      }),
      [manifest("a", { tags: ["x"] })],
      { a: "delete" },
    ],
  ];
  it.each(cases)("%s", (_title, policy, manifests, expected) => {
    const result = plan([listing("team/web", manifests)], policy);
    for (const [name, outcome] of Object.entries(expected)) {
      const decision = decisionFor(result, name);
      const [action, guard] = outcome.split(":");
      expect({ action: decision.action, guard: decision.guard }, `${name}: ${decision.reason}`).toEqual({
        action,
        guard: guard ?? null,
      });
    }
  });

  it("explains guarded decisions with the guard, the overruled rule and the protecting parent", () => {
    const result = plan(
      [listing("team/web", [manifest("idx", { tags: ["1.2.3"], children: ["amd"] }), manifest("amd")])],
      rules({ keep: { tags: { glob: "*" } } }, { id: "untagged", delete: { untaggedOlderThan: "7d" } }),
    );
    const amd = decisionFor(result, "amd");
    expect(amd.ruleId).toBe("untagged");
    expect(amd.reason).toContain(`platform child of kept index ${digestOf("idx").slice(0, 19)}`);
    expect(amd.reason).toContain("team/web:1.2.3");
  });

  it("merges a manifest listed twice (overlapping pages) conservatively", () => {
    const first = manifest("a", { tags: ["x"] });
    const second = { ...manifest("a", { tags: ["y"] }), deleteEnabled: false };
    const result = plan([listing("team/web", [first, second])], rules({ delete: { taggedOlderThan: "1d" } }));
    expect(result.repositories[0]?.decisions).toHaveLength(1);
    expect(decisionFor(result, "a")).toMatchObject({ action: "keep", guard: "locked" });
  });

  it("applies the global cap oldest first across repositories, and holds back what depends on it", () => {
    const result = plan(
      [
        listing("a/one", [
          manifest("x1", { pushedDaysAgo: 50, tags: ["t"] }),
          manifest("x2", { pushedDaysAgo: 40, tags: ["t2"] }),
        ]),
        listing("b/two", [manifest("y1", { pushedDaysAgo: 45, tags: ["t"] })]),
      ],
      rules({ delete: { taggedOlderThan: "1d" } }),
      { perRepository: 10, global: 2 },
    );
    expect(decisionFor(result, "x1", "a/one").action).toBe("delete");
    expect(decisionFor(result, "y1", "b/two").action).toBe("delete");
    expect(decisionFor(result, "x2", "a/one")).toMatchObject({ action: "keep", guard: "deletion-cap" });
  });

  it("keeps the children of an index whose deletion the cap held back", () => {
    const result = plan(
      [
        listing("team/web", [
          manifest("idx", { pushedDaysAgo: 10, tags: ["old"], children: ["amd"] }),
          manifest("amd", { pushedDaysAgo: 20 }),
        ]),
      ],
      rules({ delete: { tags: { glob: "old" } } }, { delete: { untaggedOlderThan: "1h" } }),
      { perRepository: 1, global: 10 },
    );
    // amd is older, so it would go first; the index is held back by the cap, so amd must stay.
    expect(decisionFor(result, "idx")).toMatchObject({ action: "keep", guard: "deletion-cap" });
    expect(decisionFor(result, "amd")).toMatchObject({ action: "keep", guard: "index-child" });
  });

  it("ranks large counts exactly (the full-sort path), ties broken by push time then digest", () => {
    const manifests = Array.from({ length: 400 }, (_unused, index) =>
      manifest(`m${index}`, { pushedDaysAgo: 10 + Math.floor(index / 2), tags: [`build-${index}`] }),
    );
    const result = plan(
      [listing("team/web", manifests)],
      rules({ delete: { beyondMostRecent: { count: 301 } } }),
    );
    const deleted =
      result.repositories[0]?.decisions.filter((decision) => decision.action === "delete") ?? [];
    // The 99 oldest go: m301..m399, where m300/m301 share a push time and m300 has the smaller digest.
    expect(deleted.map((decision) => decision.digest).sort()).toEqual(
      Array.from({ length: 99 }, (_unused, index) => digestOf(`m${index + 301}`)).sort(),
    );
  });

  it("with a zero cap plans no action at all", () => {
    const result = plan(
      [listing("team/web", [manifest("a", { tags: ["x"] })])],
      rules({ delete: { taggedOlderThan: "1d" } }),
      { perRepository: 0, global: 0 },
    );
    expect(result.totals).toMatchObject({ delete: 0, untag: 0, guarded: 1 });
  });

  it("rejects an invalid 'now'", () => {
    expect(() =>
      planRetention([], rules({ keep: { newerThan: "1d" } }), { now: new Date("x"), caps: UNLIMITED }),
    ).toThrow(RangeError);
  });
});

describe("Function: planRetention (later passes)", () => {
  // Removing a tag can change a ranking: the next pass acts on what the previous one left.
  const policy = validateRetentionPolicy({
    version: 1,
    rules: [
      { id: "keep-pinned", repositories: scopeAll, keep: { tags: { glob: ["v1.5*", "v2.5*"] } } },
      { id: "drop-pr", repositories: scopeAll, delete: { tags: { glob: "*-pr" } } },
      {
        id: "highest-only",
        repositories: scopeAll,
        delete: { tags: { glob: "v*" }, beyondMostRecent: { count: 1, orderBy: "semver" } },
      },
    ],
  });

  it("deletes in a later pass what an earlier untag left ranked lower, and says so", () => {
    const result = plan(
      [
        listing("team/web", [
          manifest("a", { pushedDaysAgo: 10, tags: ["v2.0.0-pr", "v1.0.0"] }),
          manifest("b", { pushedDaysAgo: 20, tags: ["v1.5.0"] }),
        ]),
      ],
      policy,
    );
    expect(decisionFor(result, "a")).toMatchObject({
      action: "delete",
      pass: 2,
      ruleId: "highest-only",
      tags: ["v1.0.0", "v2.0.0-pr"],
      reason:
        'deleted by rule "highest-only": tag v1.0.0 matches glob v*, beyond the 1 highest versions (after an earlier pass removed v2.0.0-pr)',
    });
    expect(decisionFor(result, "b")).toMatchObject({ action: "keep", ruleId: "keep-pinned" });
  });

  it("reports two untags of one manifest in pass order, under the first rule", () => {
    const result = plan(
      [
        listing("team/api", [
          manifest("c", { pushedDaysAgo: 30, tags: ["v3.0.0-pr", "v2.0.0", "v1.5.1"] }),
          manifest("d", { pushedDaysAgo: 40, tags: ["v2.5.0"] }),
        ]),
      ],
      policy,
    );
    const kept = 'kept by rule "keep-pinned": tag v1.5.1 matches glob v1.5*, v2.5*';
    expect(decisionFor(result, "c")).toMatchObject({
      action: "untag",
      pass: 2,
      ruleId: "drop-pr",
      tags: ["v2.0.0", "v3.0.0-pr"],
      reason: `untagged by rule "drop-pr": tag v3.0.0-pr matches glob *-pr; v1.5.1, v2.0.0 stay (${kept}); then untagged by rule "highest-only": tags v1.5.1, v2.0.0 match glob v*, beyond the 1 highest versions; v1.5.1 stays (${kept})`,
    });
  });
});
