import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema, TagSchema } from "../oci/reference.js";

/**
 * The planner's output. It is also a zod schema because a plan can travel (preview as JSON, then
 * apply): the executor parses it again and refuses anything malformed.
 */

export const RETENTION_GUARDS = [
  "partial-listing",
  "metadata-unreadable",
  "locked",
  "latest-tag",
  "index-child",
  "referrer-subject",
  "deletion-cap",
] as const;

export const RetentionGuardSchema = z.enum(RETENTION_GUARDS);
export const RetentionActionSchema = z.enum(["keep", "delete", "untag"]);

export const RetentionCapsSchema = z.strictObject({
  /** Most destructive actions (manifest deletions and untags) in one repository per run. */
  perRepository: z.number().int().nonnegative(),
  /** Most destructive actions in one run overall. */
  global: z.number().int().nonnegative(),
});

export const RetentionDecisionSchema = z.strictObject({
  digest: DigestSchema,
  action: RetentionActionSchema,
  /** delete: every tag the manifest carries (they go with it); untag: the tags to remove; keep: none. */
  tags: z.array(TagSchema),
  /** The rule that decided; for a guard, the rule whose action it prevented. Null when no rule matched. */
  ruleId: z.string().nullable(),
  /** Set when a guard changed the outcome. An action is never carried out while this is set. */
  guard: RetentionGuardSchema.nullable(),
  reason: z.string(),
  sizeInBytes: z.number().int().nonnegative(),
  pushedAt: z.string().nullable(),
  /** Latest of push, update and tag times; actions run (and caps cut) oldest first. */
  lastActivityAt: z.string().nullable(),
  /**
   * Planning pass that produced the action (1 for most). Actions of a later pass were decided on
   * the state left by earlier ones, so they only run when every earlier action in the repository did.
   */
  pass: z.number().int().nonnegative(),
});

export const RetentionTotalsSchema = z.strictObject({
  manifests: z.number().int().nonnegative(),
  keep: z.number().int().nonnegative(),
  delete: z.number().int().nonnegative(),
  untag: z.number().int().nonnegative(),
  tagsRemoved: z.number().int().nonnegative(),
  /** Sum of the sizes of deleted manifests: an upper bound, since layers shared with survivors stay. */
  bytesReclaimable: z.number().int().nonnegative(),
  /** Manifests a guard saved from an action. */
  guarded: z.number().int().nonnegative(),
});

export const RepositoryPlanSchema = z.strictObject({
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  listingComplete: z.boolean(),
  decisions: z.array(RetentionDecisionSchema),
  totals: RetentionTotalsSchema,
});

export const RetentionPlanSchema = z.strictObject({
  version: z.literal(1),
  plannedAt: z.iso.datetime({ offset: true }),
  caps: RetentionCapsSchema,
  repositories: z.array(RepositoryPlanSchema),
  totals: RetentionTotalsSchema,
});

export type RetentionGuard = z.infer<typeof RetentionGuardSchema>;
export type RetentionAction = z.infer<typeof RetentionActionSchema>;
export type RetentionCaps = z.infer<typeof RetentionCapsSchema>;
export type RetentionDecision = z.infer<typeof RetentionDecisionSchema>;
export type RetentionTotals = z.infer<typeof RetentionTotalsSchema>;
export type RepositoryPlan = z.infer<typeof RepositoryPlanSchema>;
export type RetentionPlan = z.infer<typeof RetentionPlanSchema>;

/**
 * Which decisions a preview shows (totals always count all of them): `actions`, the deletes and
 * untags; `guarded`, what a rule would have acted on but a guard kept; `kept`, everything else kept.
 */
export const DECISION_FILTERS = ["actions", "guarded", "kept"] as const;
export const DecisionFilterSchema = z.enum(DECISION_FILTERS);
export type DecisionFilter = z.infer<typeof DecisionFilterSchema>;

/**
 * A comma-separated list of filters, as `--only` and `?only=` take it: `actions,guarded`. Unknown
 * or empty entries are rejected with the allowed values.
 */
export const DecisionFilterListSchema = z
  .string()
  .transform((text) => text.split(",").map((entry) => entry.trim()))
  .pipe(
    z
      .array(
        z.enum(DECISION_FILTERS, {
          error: () => `each entry must be one of ${DECISION_FILTERS.join(", ")} (comma-separated)`,
        }),
      )
      .min(1),
  );

export function decisionMatches(decision: RetentionDecision, filters: readonly DecisionFilter[]): boolean {
  const kind: DecisionFilter =
    decision.action !== "keep" ? "actions" : decision.guard !== null ? "guarded" : "kept";
  return filters.includes(kind);
}

/** The plan with only the decisions the filters select in each repository; totals unchanged. */
export function selectDecisions(
  plan: RetentionPlan,
  filters: readonly DecisionFilter[] | undefined,
): RetentionPlan {
  if (filters === undefined) return plan;
  return {
    ...plan,
    repositories: plan.repositories.map((repo) => ({
      ...repo,
      decisions: repo.decisions.filter((decision) => decisionMatches(decision, filters)),
    })),
  };
}
