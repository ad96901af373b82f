import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../../shared/errors/index.js";
import { checkDuration } from "../../../shared/retention/duration.js";
import { renderPolicyJsonSchema } from "../../../shared/retention/jsonSchema.js";
import {
  compileRepositoryGlob,
  compileTagGlob,
  compileTagGlobs,
  compileTagRegex,
} from "../../../shared/retention/patterns.js";
import {
  compileRetentionPolicy,
  parseRetentionPolicy,
  validateRetentionPolicy,
} from "../../../shared/retention/policy.js";
import { compareSemanticVersions, parseSemanticVersion } from "../../../shared/retention/semver.js";

const repositoryRoot = new URL("../../../", import.meta.url);

function policyWith(rule: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { version: 1, rules: [{ id: "r", repositories: { include: ["**"] }, ...rule }], ...extra };
}

function problemOf(input: unknown): string {
  try {
    validateRetentionPolicy(input, "test");
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error("expected the policy to be refused");
}

describe("Function: parseRetentionPolicy", () => {
  it("accepts the shipped example policy (YAML) and a JSON policy", () => {
    const yaml = readFileSync(new URL("examples/retention-policy.yaml", repositoryRoot), "utf8");
    const policy = parseRetentionPolicy(yaml, "examples/retention-policy.yaml");
    expect(policy.rules.map((rule) => rule.id)).toContain("keep-releases");
    const json = JSON.stringify(policyWith({ keep: { newerThan: "7d" } }));
    expect(parseRetentionPolicy(json).rules[0]?.keep?.newerThan).toBe("7d");
  });

  it("refuses text that is not YAML, with a ValidationError", () => {
    expect(() => parseRetentionPolicy("version: 1\nrules: [\n", "bad.yaml")).toThrow(ValidationError);
    expect(() => parseRetentionPolicy("a: 1\na: 2\n")).toThrow(/not valid YAML/);
  });

  const refusals: [string, unknown, string][] = [
    ["unknown top-level key", { version: 1, rules: [], extra: true }, 'policy: unknown key "extra"'],
    ["wrong version", { version: 2, rules: [] }, "version:"],
    ["no rules", { version: 1, rules: [] }, "rules: a policy needs at least one rule"],
    [
      "unknown key in a rule's conditions, named with the rule id",
      policyWith({ delete: { olderThan: "30d" } }),
      'rules[0] (id "r").delete: unknown key "olderThan"',
    ],
    [
      "empty scope",
      policyWith({ repositories: { include: [] }, keep: { newerThan: "1d" } }),
      'rules[0] (id "r").repositories.include: list at least one',
    ],
    [
      "missing scope",
      { version: 1, rules: [{ id: "r", keep: { newerThan: "1d" } }] },
      'rules[0] (id "r").repositories',
    ],
    [
      "both keep and delete",
      policyWith({ keep: { newerThan: "1d" }, delete: { taggedOlderThan: "1d" } }),
      "exactly one of 'keep' or 'delete'",
    ],
    ["neither keep nor delete", policyWith({}), "exactly one of 'keep' or 'delete'"],
    [
      "empty keep",
      policyWith({ keep: {} }),
      'rules[0] (id "r").keep: a keep rule needs at least one condition',
    ],
    [
      "empty delete",
      policyWith({ delete: {} }),
      'rules[0] (id "r").delete: a delete rule needs at least one condition',
    ],
    [
      "absurd duration",
      policyWith({ delete: { taggedOlderThan: "999999d" } }),
      'rules[0] (id "r").delete.taggedOlderThan: "999999d" is longer than 150 years',
    ],
    ["zero duration", policyWith({ keep: { newerThan: "0d" } }), "must be greater than zero"],
    ["negative duration", policyWith({ keep: { newerThan: "-3d" } }), "write a whole number and one unit"],
    ["fractional duration", policyWith({ keep: { newerThan: "1.5d" } }), "write a whole number and one unit"],
    ["combined units", policyWith({ keep: { newerThan: "1d12h" } }), "write a whole number and one unit"],
    ["months", policyWith({ keep: { newerThan: "3mo" } }), "write a whole number and one unit"],
    ["too short untagged age", policyWith({ delete: { untaggedOlderThan: "30m" } }), "must be at least 1h"],
    [
      "untagged with tag conditions",
      policyWith({ delete: { untaggedOlderThan: "2d", tags: { glob: "x" } } }),
      "cannot be combined",
    ],
    [
      "semver on untagged",
      policyWith({ delete: { untaggedOlderThan: "2d", beyondMostRecent: { count: 1, orderBy: "semver" } } }),
      "no versions",
    ],
    [
      "zero count",
      policyWith({ keep: { mostRecent: { count: 0 } } }),
      'rules[0] (id "r").keep.mostRecent.count',
    ],
    ["fractional count", policyWith({ keep: { mostRecent: { count: 2.5 } } }), "keep.mostRecent.count"],
    [
      "both glob and regex",
      policyWith({ keep: { tags: { glob: "v*", regex: "v.*" } } }),
      "exactly one of 'glob' or 'regex'",
    ],
    ["neither glob nor regex", policyWith({ keep: { tags: {} } }), "exactly one of 'glob' or 'regex'"],
    ["catastrophic regex", policyWith({ keep: { tags: { regex: "(a+)+" } } }), "keep.tags.regex"],
    ["alternation under a star", policyWith({ keep: { tags: { regex: "(a|ab)*c" } } }), "repeated group"],
    ["backreference", policyWith({ keep: { tags: { regex: "(a)\\1" } } }), "backreferences"],
    ["invalid regex", policyWith({ keep: { tags: { regex: "v[0-9" } } }), "not a valid regular expression"],
    ["overlong regex", policyWith({ keep: { tags: { regex: "a".repeat(201) } } }), "at most 200"],
    [
      "bad repository glob",
      policyWith({ repositories: { include: ["team/**x"] }, keep: { newerThan: "1d" } }),
      "'**' must be a whole path segment",
    ],
    [
      "uppercase repository glob",
      policyWith({ repositories: { include: ["Team/*"] }, keep: { newerThan: "1d" } }),
      "lowercase",
    ],
    ["bad tag glob", policyWith({ keep: { tags: { glob: "v/1" } } }), "keep.tags.glob"],
    [
      "duplicate ids",
      {
        version: 1,
        rules: [
          policyWith({ keep: { newerThan: "1d" } }).rules[0],
          policyWith({ keep: { newerThan: "2d" } }).rules[0],
        ],
      },
      'rules[1] (id "r").id: duplicate rule id',
    ],
    [
      "bad id",
      {
        version: 1,
        rules: [{ id: "Old PRs", repositories: { include: ["**"] }, keep: { newerThan: "1d" } }],
      },
      `rules[0] (id "Old PRs").id: a rule id is`,
    ],
  ];
  it.each(refusals)("refuses %s", (_title, input, expected) => {
    expect(problemOf(input)).toContain(expected);
  });

  it("lists every problem at once, each with the rule id and field", () => {
    const message = problemOf({
      version: 1,
      rules: [
        { id: "fine", repositories: { include: ["**"] }, keep: { newerThan: "1d" } },
        {
          id: "old-prs",
          repositories: { include: ["**"] },
          delete: { taggedOlderThan: "0d", tags: { regex: "(x+)*" } },
        },
      ],
    });
    expect(message).toContain(
      'rules[1] (id "old-prs").delete.taggedOlderThan: "0d" must be greater than zero',
    );
    expect(message).toContain('rules[1] (id "old-prs").delete.tags.regex');
  });

  it("refuses a hand-built policy object that skipped validation when compiling it", () => {
    const forged = policyWith({ delete: { taggedOlderThan: "0d" } }) as unknown as Parameters<
      typeof compileRetentionPolicy
    >[0];
    expect(() => compileRetentionPolicy(forged)).toThrow(ValidationError);
  });

  it("throws nothing but ValidationError on arbitrary input", () => {
    fc.assert(
      fc.property(
        fc.anything({ withObjectString: true, withNullPrototype: true, withMap: true, withSet: true }),
        (junk) => {
          try {
            validateRetentionPolicy(junk);
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
          }
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parseRetentionPolicy(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("throws nothing but ValidationError on near-valid mutations of a policy", () => {
    const field = fc.constantFrom(
      "version",
      "rules",
      "id",
      "repositories",
      "include",
      "keep",
      "delete",
      "tags",
      "glob",
      "regex",
      "newerThan",
      "taggedOlderThan",
      "untaggedOlderThan",
      "mostRecent",
      "beyondMostRecent",
      "count",
      "orderBy",
    );
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.array(fc.string()),
      fc.dictionary(field, fc.string()),
    );
    fc.assert(
      fc.property(fc.dictionary(field, value), fc.dictionary(field, value), (rule, conditions) => {
        try {
          validateRetentionPolicy({
            version: 1,
            rules: [{ id: "r", repositories: { include: ["**"] }, ...rule, delete: conditions }],
          });
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("Function: checkDuration", () => {
  it.each([
    ["90m", 90 * 60_000],
    ["12h", 12 * 3_600_000],
    ["30d", 30 * 86_400_000],
    ["2w", 14 * 86_400_000],
    ["54000d", 54_000 * 86_400_000],
  ])("reads %s", (text, milliseconds) => {
    expect(checkDuration(text)).toEqual({ ok: true, milliseconds });
  });
  it.each(["", "30", "d", "30 d", "30D", "1y", "0m", "55000d", "999999999999w", "1e3d"])(
    "refuses %j",
    (text) => {
      expect(checkDuration(text).ok).toBe(false);
    },
  );
});

describe("Function: compileRepositoryGlob", () => {
  const cases: [string, string, boolean][] = [
    ["team/*", "team/web", true],
    ["team/*", "team/web/api", false],
    ["team/*", "team", false],
    ["team/**", "team", true],
    ["team/**", "team/web/api", true],
    ["team/**", "teams/web", false],
    ["**/cache", "cache", true],
    ["**/cache", "a/b/cache", true],
    ["**/cache", "a/b/cache2", false],
    ["a/**/z", "a/z", true],
    ["a/**/z", "a/b/c/z", true],
    ["**", "anything/at/all", true],
    ["web-?", "web-1", true],
    ["web-?", "web-12", false],
    ["team/w*b", "team/web", true],
    ["team.x", "teamyx", false],
  ];
  it.each(cases)("%s on %s is %s", (glob, repository, expected) => {
    expect(compileRepositoryGlob(glob).test(repository)).toBe(expected);
  });
});

describe("Function: compileTagGlob / compileTagGlobs / compileTagRegex", () => {
  it.each([
    ["v*", "v1.2.3", true],
    ["v*", "xv1", false],
    ["pr-?", "pr-1", true],
    ["1.2", "1x2", false],
  ])("glob %s on %s is %s", (glob, tag, expected) => {
    expect(compileTagGlob(glob).test(tag)).toBe(expected);
  });
  it.each([
    [["prod", "prod-*", "hold-?"], "prod", true],
    [["prod", "prod-*", "hold-?"], "prod-eu", true],
    [["prod", "prod-*", "hold-?"], "hold-1", true],
    [["prod", "prod-*", "hold-?"], "prodx", false],
    [["prod", "prod-*", "hold-?"], "xprod", false],
    [["prod", "prod-*", "hold-?"], "hold-12", false],
    [["a.b", "c"], "axb", false],
  ])("globs %j on %s is %s (each glob matches the whole tag)", (globs, tag, expected) => {
    expect(compileTagGlobs(globs).test(tag)).toBe(expected);
    expect(globs.some((glob) => compileTagGlob(glob).test(tag))).toBe(expected);
  });
  it.each([
    ["v[0-9]+", "v12", true],
    ["v[0-9]+", "xv12", false],
    ["v[0-9]+", "v12-rc", false],
    ["main|release", "release", true],
    ["main|release", "mainline", false],
    ["(?!latest$).*", "latest", false],
    ["(?!latest$).*", "stable", true],
  ])("regex %s on %s is %s (anchored)", (source, tag, expected) => {
    expect(compileTagRegex(source).test(tag)).toBe(expected);
  });
});

describe("Function: compareSemanticVersions", () => {
  const ordered = [
    "0.9.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "v1",
    "1.0.1",
    "1.2",
    "1.10.0",
    "2.0.0",
  ];
  it("orders versions by semver precedence", () => {
    for (let index = 1; index < ordered.length; index += 1) {
      const lower = parseSemanticVersion(ordered[index - 1] as string);
      const higher = parseSemanticVersion(ordered[index] as string);
      if (!lower || !higher) throw new Error("unparsed");
      expect(
        compareSemanticVersions(lower, higher),
        `${ordered[index - 1]} < ${ordered[index]}`,
      ).toBeLessThan(0);
    }
  });
  it.each(["latest", "main-42", "01.2.3", "1.2.3.4", "v", "1.2.3-"])(
    "does not read %s as a version",
    (tag) => {
      expect(parseSemanticVersion(tag)).toBeUndefined();
    },
  );
});

describe("Committed JSON Schema", () => {
  it("equals the schema generated from the zod policy schema (run scripts/generate-policy-schema.ts)", () => {
    const committed = readFileSync(new URL("schemas/retention-policy.schema.json", repositoryRoot), "utf8");
    expect(committed).toBe(renderPolicyJsonSchema());
  });
});
