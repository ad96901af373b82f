import { parseDocument } from "yaml";
import { z } from "zod";
import { ValidationError } from "../errors/index.js";
import { checkDuration, DURATION_PATTERN, durationToMilliseconds } from "./duration.js";
import {
  checkRepositoryGlob,
  checkTagGlob,
  checkTagRegex,
  compileRepositoryGlob,
  compileTagGlobs,
  compileTagRegex,
} from "./patterns.js";

/**
 * The retention policy file (YAML or JSON). This zod schema is the single source of truth: the
 * committed JSON Schema (schemas/retention-policy.schema.json) is generated from it, and
 * docs/policy.md documents its semantics. Cross-field rules that JSON Schema cannot express
 * (exactly one of keep/delete, no empty rules, unique ids...) are checked after the schema.
 */

export const MAX_POLICY_TEXT_LENGTH = 1_000_000;
export const MAX_RULES = 200;
export const MAX_COUNT = 100_000;
/** Children of a multi-arch image are pushed before their index; a shorter age could catch them in flight. */
export const MIN_UNTAGGED_AGE_MS = 3_600_000;

const DurationSchema = z
  .string()
  .regex(DURATION_PATTERN, "write a whole number and one unit, e.g. 90m, 12h, 30d or 2w")
  .superRefine((text, context) => {
    if (!DURATION_PATTERN.test(text)) return;
    const checked = checkDuration(text);
    if (!checked.ok) context.addIssue({ code: "custom", message: checked.problem });
  })
  .describe(
    "A positive whole number and one unit: m (minutes), h (hours), d (days), w (weeks). At most 150 years.",
  );

const RepositoryGlobSchema = z
  .string()
  .superRefine((glob, context) => {
    const problem = checkRepositoryGlob(glob);
    if (problem) context.addIssue({ code: "custom", message: problem });
  })
  .describe(
    "Repository glob: '*' and '?' stay inside one path segment, '**' (a whole segment) spans any number of segments.",
  );

const TagGlobSchema = z.string().superRefine((glob, context) => {
  const problem = checkTagGlob(glob);
  if (problem) context.addIssue({ code: "custom", message: problem });
});

const TagRegexSchema = z
  .string()
  .superRefine((source, context) => {
    const problem = checkTagRegex(source);
    if (problem) context.addIssue({ code: "custom", message: problem });
  })
  .describe(
    "JavaScript regular expression, anchored at both ends. Backreferences and repeated groups containing quantifiers or alternatives are refused.",
  );

const TagMatchSchema = z
  .strictObject({
    glob: z
      .union([TagGlobSchema, z.array(TagGlobSchema).min(1, "list at least one glob")])
      .optional()
      .describe("One glob or a list; a tag matches when any glob matches it. '*' any characters, '?' one."),
    regex: TagRegexSchema.optional(),
  })
  .describe("Which tags the rule is about: exactly one of 'glob' or 'regex'.");

const RankSchema = z
  .strictObject({
    count: z.number().int().min(1).max(MAX_COUNT),
    orderBy: z
      .enum(["pushed", "semver"])
      .optional()
      .describe(
        "'pushed' (default): newest push first. 'semver': highest semantic version among the rule's tags first.",
      ),
  })
  .describe("Ranks the manifests the rule's tag condition selects (tagged manifests if it has none).");

const RepositoryScopeSchema = z
  .strictObject({
    include: z.array(RepositoryGlobSchema).min(1, "list at least one repository pattern (use '**' for all)"),
    exclude: z.array(RepositoryGlobSchema).optional(),
  })
  .describe("Repositories the rule applies to: matching any 'include' glob and no 'exclude' glob.");

const KeepConditionsSchema = z
  .strictObject({
    tags: TagMatchSchema.optional(),
    mostRecent: RankSchema.optional(),
    newerThan: DurationSchema.optional(),
  })
  .describe(
    "Keep conditions (all must hold). A kept manifest is never deleted; its matching tags are never removed.",
  );

const DeleteConditionsSchema = z
  .strictObject({
    untaggedOlderThan: DurationSchema.optional().describe(
      "Manifests with no tag and no activity for this long.",
    ),
    taggedOlderThan: DurationSchema.optional().describe("Tags last pushed or moved longer ago than this."),
    tags: TagMatchSchema.optional(),
    beyondMostRecent: RankSchema.optional(),
  })
  .describe("Delete conditions (all must hold). Tags are removed; a manifest whose tags all go is deleted.");

const RuleIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "a rule id is 1-63 lowercase letters, digits, '.', '_' or '-'");

const RuleSchema = z.strictObject({
  id: RuleIdSchema,
  description: z.string().max(500).optional(),
  repositories: RepositoryScopeSchema,
  keep: KeepConditionsSchema.optional(),
  delete: DeleteConditionsSchema.optional(),
});

export const RetentionPolicySchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1).describe("Policy format version; only 1 exists."),
    protectLatest: z
      .boolean()
      .optional()
      .describe("When true (the default), the tag 'latest' is never removed and its manifest never deleted."),
    rules: z.array(RuleSchema).min(1, "a policy needs at least one rule").max(MAX_RULES),
  })
  .describe(
    "acr-steward retention policy. Keep rules always beat delete rules; guards protect what no rule may delete.",
  );

export type RetentionPolicy = z.infer<typeof RetentionPolicySchema>;
export type RetentionRule = z.infer<typeof RuleSchema>;
export type TagMatch = z.infer<typeof TagMatchSchema>;
export type RankCondition = z.infer<typeof RankSchema>;

/** One problem in a policy, located by a path such as `rules[2] (id "old-prs").delete.taggedOlderThan`. */
export interface PolicyProblem {
  readonly path: string;
  readonly message: string;
}

function ruleIdAt(input: unknown, index: number): string | undefined {
  if (typeof input !== "object" || input === null) return undefined;
  const rules = (input as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) return undefined;
  const rule: unknown = rules[index];
  if (typeof rule !== "object" || rule === null) return undefined;
  const id = (rule as { id?: unknown }).id;
  return typeof id === "string" && id.length > 0 && id.length <= 63 ? id : undefined;
}

function formatPath(path: readonly PropertyKey[], input: unknown): string {
  let text = "";
  path.forEach((segment, position) => {
    if (typeof segment === "number") {
      text += `[${segment}]`;
      if (position === 1 && path[0] === "rules") {
        const id = ruleIdAt(input, segment);
        if (id !== undefined) text += ` (id ${JSON.stringify(id)})`;
      }
    } else {
      text += text.length === 0 ? String(segment) : `.${String(segment)}`;
    }
  });
  return text.length === 0 ? "policy" : text;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return `unknown ${issue.keys.length === 1 ? "key" : "keys"} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")}`;
  }
  return issue.message;
}

function crossFieldProblems(policy: RetentionPolicy, input: unknown): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const seen = new Map<string, number>();
  policy.rules.forEach((rule, index) => {
    const at = (suffix: string) => `${formatPath(["rules", index], input)}${suffix}`;
    const earlier = seen.get(rule.id);
    if (earlier !== undefined)
      problems.push({ path: at(".id"), message: `duplicate rule id (also rules[${earlier}])` });
    else seen.set(rule.id, index);

    if ((rule.keep === undefined) === (rule.delete === undefined)) {
      problems.push({ path: at(""), message: "a rule has exactly one of 'keep' or 'delete'" });
      return;
    }
    if (rule.keep && Object.values(rule.keep).every((value) => value === undefined)) {
      problems.push({
        path: at(".keep"),
        message: "a keep rule needs at least one condition (tags, mostRecent, newerThan)",
      });
    }
    const conditions = rule.delete;
    if (conditions) {
      if (Object.values(conditions).every((value) => value === undefined)) {
        problems.push({
          path: at(".delete"),
          message:
            "a delete rule needs at least one condition (untaggedOlderThan, taggedOlderThan, tags, beyondMostRecent)",
        });
      }
      if (conditions.untaggedOlderThan !== undefined) {
        if (conditions.tags !== undefined || conditions.taggedOlderThan !== undefined) {
          problems.push({
            path: at(".delete.untaggedOlderThan"),
            message:
              "cannot be combined with 'tags' or 'taggedOlderThan' (an untagged manifest has no tags): write two rules",
          });
        }
        if (conditions.beyondMostRecent?.orderBy === "semver") {
          problems.push({
            path: at(".delete.beyondMostRecent.orderBy"),
            message: "untagged manifests have no versions to order by; use 'pushed'",
          });
        }
        const checked = checkDuration(conditions.untaggedOlderThan);
        if (checked.ok && checked.milliseconds < MIN_UNTAGGED_AGE_MS) {
          problems.push({
            path: at(".delete.untaggedOlderThan"),
            message:
              "must be at least 1h: platform images of a multi-arch push are untagged until their index arrives",
          });
        }
      }
    }
    for (const [field, match] of [
      ["keep.tags", rule.keep?.tags],
      ["delete.tags", rule.delete?.tags],
    ] as const) {
      if (match && (match.glob === undefined) === (match.regex === undefined)) {
        problems.push({ path: at(`.${field}`), message: "give exactly one of 'glob' or 'regex'" });
      }
    }
  });
  return problems;
}

function policyError(problems: readonly PolicyProblem[], source: string): ValidationError {
  const lines = problems.map((problem) => `  ${problem.path}: ${problem.message}`);
  return new ValidationError(`Invalid retention policy (${source}):\n${lines.join("\n")}`, {
    context: { source, problems },
  });
}

/** Validates an already-parsed policy document. Throws ValidationError listing every problem. */
export function validateRetentionPolicy(input: unknown, source = "policy"): RetentionPolicy {
  let result: ReturnType<typeof RetentionPolicySchema.safeParse>;
  try {
    result = RetentionPolicySchema.safeParse(input);
  } catch (error) {
    throw new ValidationError(`Invalid retention policy (${source}): it could not be read as data`, {
      cause: error,
    });
  }
  if (!result.success) {
    throw policyError(
      result.error.issues.map((issue) => ({
        path: formatPath(issue.path, input),
        message: issueMessage(issue),
      })),
      source,
    );
  }
  const problems = crossFieldProblems(result.data, input);
  if (problems.length > 0) throw policyError(problems, source);
  return result.data;
}

/** Parses policy text (YAML, or JSON which is YAML too) and validates it. */
export function parseRetentionPolicy(text: string, source = "policy"): RetentionPolicy {
  if (typeof text !== "string")
    throw new ValidationError(`Invalid retention policy (${source}): expected text`);
  if (text.length > MAX_POLICY_TEXT_LENGTH) {
    throw new ValidationError(
      `Invalid retention policy (${source}): larger than ${MAX_POLICY_TEXT_LENGTH} characters`,
    );
  }
  let document: unknown;
  try {
    const parsed = parseDocument(text, { uniqueKeys: true, logLevel: "silent" });
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem) throw problem;
    document = parsed.toJS({ maxAliasCount: 50 });
  } catch (error) {
    throw new ValidationError(
      `Invalid retention policy (${source}): not valid YAML or JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return validateRetentionPolicy(document, source);
}

/** A rule ready to evaluate: patterns compiled, durations in milliseconds. */
export interface CompiledRule {
  readonly id: string;
  readonly index: number;
  readonly kind: "keep" | "delete";
  readonly description: string | undefined;
  readonly appliesToRepository: (repository: string) => boolean;
  /** Undefined when the rule has no tag condition. */
  readonly tagMatcher: ((tag: string) => boolean) | undefined;
  readonly tagPatternText: string | undefined;
  /** Delete rules with `untaggedOlderThan` act on untagged manifests; every other rule on tags. */
  readonly targetsUntagged: boolean;
  readonly newerThanMs: number | undefined;
  readonly taggedOlderThanMs: number | undefined;
  readonly untaggedOlderThanMs: number | undefined;
  readonly rank: { readonly count: number; readonly orderBy: "pushed" | "semver" } | undefined;
  /** The durations as the policy wrote them, for reasons. */
  readonly durationText: {
    readonly newerThan?: string;
    readonly taggedOlderThan?: string;
    readonly untaggedOlderThan?: string;
  };
}

export interface CompiledPolicy {
  readonly protectLatest: boolean;
  readonly rules: readonly CompiledRule[];
}

function compileTagMatch(match: TagMatch | undefined): Pick<CompiledRule, "tagMatcher" | "tagPatternText"> {
  if (!match) return { tagMatcher: undefined, tagPatternText: undefined };
  if (match.regex !== undefined) {
    const regex = compileTagRegex(match.regex);
    return { tagMatcher: (tag) => regex.test(tag), tagPatternText: `regex ${match.regex}` };
  }
  const globs = typeof match.glob === "string" ? [match.glob] : (match.glob ?? []);
  // Called for every tag of every manifest: one expression for all the globs.
  const regex = compileTagGlobs(globs);
  return { tagMatcher: (tag) => regex.test(tag), tagPatternText: `glob ${globs.join(", ")}` };
}

/** Compiles a validated policy. Validates again, so an object built by hand cannot skip the checks. */
export function compileRetentionPolicy(policy: RetentionPolicy): CompiledPolicy {
  const valid = validateRetentionPolicy(policy);
  const rules = valid.rules.map((rule, index): CompiledRule => {
    const includes = rule.repositories.include.map(compileRepositoryGlob);
    const excludes = (rule.repositories.exclude ?? []).map(compileRepositoryGlob);
    const kind = rule.keep ? "keep" : "delete";
    const tags = rule.keep?.tags ?? rule.delete?.tags;
    const rank = rule.keep?.mostRecent ?? rule.delete?.beyondMostRecent;
    const optionalMs = (text: string | undefined) =>
      text === undefined ? undefined : durationToMilliseconds(text);
    return {
      id: rule.id,
      index,
      kind,
      description: rule.description,
      appliesToRepository: (repository) =>
        includes.some((regex) => regex.test(repository)) && !excludes.some((regex) => regex.test(repository)),
      ...compileTagMatch(tags),
      targetsUntagged: rule.delete?.untaggedOlderThan !== undefined,
      newerThanMs: optionalMs(rule.keep?.newerThan),
      taggedOlderThanMs: optionalMs(rule.delete?.taggedOlderThan),
      untaggedOlderThanMs: optionalMs(rule.delete?.untaggedOlderThan),
      rank: rank ? { count: rank.count, orderBy: rank.orderBy ?? "pushed" } : undefined,
      durationText: {
        ...(rule.keep?.newerThan ? { newerThan: rule.keep.newerThan } : {}),
        ...(rule.delete?.taggedOlderThan ? { taggedOlderThan: rule.delete.taggedOlderThan } : {}),
        ...(rule.delete?.untaggedOlderThan ? { untaggedOlderThan: rule.delete.untaggedOlderThan } : {}),
      },
    };
  });
  return { protectLatest: valid.protectLatest ?? true, rules };
}
