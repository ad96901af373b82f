import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { RetentionCandidate } from "../../../shared/retention/candidates.js";
import { planRetention } from "../../../shared/retention/planner.js";
import { validateRetentionPolicy } from "../../../shared/retention/policy.js";
import {
  daysAgo,
  decisionFor,
  digestOf,
  InMemoryRegistry,
  listing,
  NOW,
  OCI_INDEX,
  OCI_MANIFEST,
  UNLIMITED,
} from "./fixtures.js";

/**
 * Runs every worked example of docs/policy.md: each ```yaml block starting with `# example:`.
 * Manifests are named by short names; `pushed: 40d` is relative to NOW; a tag `pr-7@3d` was last
 * pushed 3 days ago, `x!locked` is a locked tag, and `{name}` in a tag is replaced by that
 * manifest's digest hex (cosign's tag scheme).
 */

interface ExampleManifest {
  pushed: string;
  tags?: string[];
  children?: string[];
  subject?: string;
  locked?: boolean;
  unreadable?: boolean;
  mediaType?: "index" | "manifest" | "unknown";
}

interface Example {
  name: string;
  policy: unknown;
  repository?: string;
  listingComplete?: boolean;
  caps?: { perRepository: number; global: number };
  manifests: Record<string, ExampleManifest>;
  expect: Record<string, string>;
}

const documentation = readFileSync(new URL("../../../docs/policy.md", import.meta.url), "utf8");
const examples: Example[] = [...documentation.matchAll(/```yaml\n(# example: ([^\n]+)\n[\s\S]*?)```/g)].map(
  (match) => ({ ...(parseYaml(match[1] as string) as Omit<Example, "name">), name: match[2] as string }),
);

function days(text: string): number {
  const match = /^([0-9]+)(d|h)$/.exec(text);
  if (!match) throw new Error(`bad relative time ${text}`);
  return Number(match[1]) / (match[2] === "h" ? 24 : 1);
}

function toCandidate(name: string, spec: ExampleManifest): RetentionCandidate {
  const tags = (spec.tags ?? []).map((raw) => {
    const locked = raw.endsWith("!locked");
    const [tagName = "", updated] = raw.replace(/!locked$/, "").split("@");
    const resolved = tagName.replace(/\{([a-z0-9-]+)\}/g, (_all, other: string) =>
      digestOf(other).slice("sha256:".length),
    );
    return {
      name: resolved,
      ...(updated ? { updatedAt: daysAgo(days(updated)) } : {}),
      ...(locked ? { deleteEnabled: false } : {}),
    };
  });
  const mediaType =
    spec.mediaType === "unknown"
      ? undefined
      : spec.mediaType === "index" || (spec.mediaType === undefined && spec.children)
        ? OCI_INDEX
        : OCI_MANIFEST;
  return {
    digest: digestOf(name),
    ...(mediaType ? { mediaType } : {}),
    sizeInBytes: 1_000,
    pushedAt: daysAgo(days(spec.pushed)),
    tags,
    deleteEnabled: !spec.locked,
    writeEnabled: !spec.locked,
    children: (spec.children ?? []).map(digestOf),
    ...(spec.subject ? { subject: digestOf(spec.subject) } : {}),
    metadataReadable: !spec.unreadable,
  };
}

function parseExpectation(text: string) {
  const match = /^(keep|delete|untag)((?: [^ ]+?)*?)(?: by ([a-z0-9._-]+))?(?: guard ([a-z-]+))?$/.exec(text);
  if (!match) throw new Error(`bad expectation "${text}"`);
  return {
    action: match[1],
    tags: (match[2] ?? "").trim().split(" ").filter(Boolean),
    ruleId: match[3],
    guard: match[4],
  };
}

describe("docs/policy.md worked examples", () => {
  it("has the examples the page promises", () => {
    expect(examples.length).toBeGreaterThanOrEqual(10);
  });

  for (const example of examples) {
    it(example.name, () => {
      const policy = validateRetentionPolicy(example.policy, example.name);
      const repository = example.repository ?? "team/web";
      const candidates = Object.entries(example.manifests).map(([name, spec]) => toCandidate(name, spec));
      const listings = [listing(repository, candidates, example.listingComplete ?? true)];
      const plan = planRetention(listings, policy, { now: NOW, caps: example.caps ?? UNLIMITED });

      expect(Object.keys(example.expect).sort()).toEqual(Object.keys(example.manifests).sort());
      for (const [name, text] of Object.entries(example.expect)) {
        const expected = parseExpectation(text);
        const decision = decisionFor(plan, name);
        const actual = {
          action: decision.action,
          tags: decision.action === "untag" ? decision.tags : [],
          ruleId:
            expected.ruleId === undefined && expected.guard !== undefined
              ? undefined
              : (decision.ruleId ?? undefined),
          guard: decision.guard ?? undefined,
        };
        expect(actual, `${name}: ${decision.reason}`).toEqual({
          action: expected.action,
          tags: expected.action === "untag" ? expected.tags : [],
          ruleId: expected.ruleId,
          guard: expected.guard,
        });
        expect(decision.reason.length).toBeGreaterThan(0);
      }

      // Every example is also a fixed point when no cap interferes.
      if (!example.caps && (example.listingComplete ?? true)) {
        const registry = new InMemoryRegistry(listings);
        registry.applyPlan(plan);
        const again = planRetention(registry.listings(), policy, { now: NOW, caps: UNLIMITED });
        expect(again.totals.delete + again.totals.untag).toBe(0);
      }
    });
  }
});
