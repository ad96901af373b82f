import { describe, expect, it } from "vitest";
import {
  DecisionFilterListSchema,
  decisionMatches,
  type RetentionDecision,
  type RetentionPlan,
  selectDecisions,
} from "../../../shared/retention/plan.js";

const decision = (action: RetentionDecision["action"], guard: RetentionDecision["guard"] = null) =>
  ({
    digest: `sha256:${String(action.length).repeat(64)}`,
    action,
    tags: [],
    ruleId: null,
    guard,
    reason: "",
    sizeInBytes: 1,
    pushedAt: null,
    lastActivityAt: null,
    pass: action === "keep" ? 0 : 1,
  }) satisfies RetentionDecision;

describe("decision filters (preview --only, ?only=)", () => {
  const deleted = decision("delete");
  const untagged = decision("untag");
  const guarded = decision("keep", "locked");
  const kept = decision("keep");

  it("sorts every decision into exactly one kind", () => {
    expect([deleted, untagged, guarded, kept].map((d) => decisionMatches(d, ["actions"]))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect([deleted, untagged, guarded, kept].map((d) => decisionMatches(d, ["guarded"]))).toEqual([
      false,
      false,
      true,
      false,
    ]);
    expect([deleted, untagged, guarded, kept].map((d) => decisionMatches(d, ["kept"]))).toEqual([
      false,
      false,
      false,
      true,
    ]);
  });

  it("filters each repository's decisions and leaves the totals alone", () => {
    const totals = {
      manifests: 4,
      keep: 2,
      delete: 1,
      untag: 1,
      tagsRemoved: 0,
      bytesReclaimable: 1,
      guarded: 1,
    };
    const plan: RetentionPlan = {
      version: 1,
      plannedAt: "2026-01-01T00:00:00.000Z",
      caps: { perRepository: 10, global: 10 },
      repositories: [
        {
          registry: "r.azurecr.io",
          repository: "team/app",
          listingComplete: true,
          decisions: [deleted, untagged, guarded, kept],
          totals,
        },
      ],
      totals,
    };
    const selected = selectDecisions(plan, ["actions", "guarded"]);
    expect(selected.repositories[0]?.decisions).toEqual([deleted, untagged, guarded]);
    expect(selected.totals).toEqual(totals);
    expect(selected.repositories[0]?.totals).toEqual(totals);
    expect(selectDecisions(plan, undefined)).toBe(plan);
  });

  it("parses comma-separated lists and rejects unknown or empty entries", () => {
    expect(DecisionFilterListSchema.parse("actions")).toEqual(["actions"]);
    expect(DecisionFilterListSchema.parse("actions, guarded")).toEqual(["actions", "guarded"]);
    for (const bad of ["", "nope", "actions,", "actions,deletes"]) {
      const parsed = DecisionFilterListSchema.safeParse(bad);
      expect(parsed.success, bad).toBe(false);
      expect(parsed.error?.issues[0]?.message, bad).toMatch(/actions, guarded, kept/);
    }
  });
});
