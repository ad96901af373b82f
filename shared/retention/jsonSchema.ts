import { z } from "zod";
import { RetentionPolicySchema } from "./policy.js";

/** Where the committed JSON Schema lives, relative to the repository root. */
export const POLICY_JSON_SCHEMA_PATH = "schemas/retention-policy.schema.json";

/**
 * The JSON Schema of the policy file, generated from the zod schema so the two never drift. It
 * describes the input (optional fields stay optional); cross-field rules that JSON Schema cannot
 * express are enforced when acr-steward loads the policy.
 */
export function generatePolicyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RetentionPolicySchema, { io: "input", target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
  return {
    $schema: schema.$schema,
    title: "acr-steward retention policy",
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== "$schema")),
  };
}

/** The file's exact text: stable key order, two-space indent, trailing newline. */
export function renderPolicyJsonSchema(): string {
  return `${JSON.stringify(generatePolicyJsonSchema(), null, 2)}\n`;
}
