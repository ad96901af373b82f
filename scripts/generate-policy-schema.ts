/**
 * Regenerates schemas/retention-policy.schema.json from the zod policy schema.
 * Run: npx tsx scripts/generate-policy-schema.ts   (a unit test fails while the file is stale)
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { POLICY_JSON_SCHEMA_PATH, renderPolicyJsonSchema } from "../shared/retention/jsonSchema.js";

const target = fileURLToPath(new URL(`../${POLICY_JSON_SCHEMA_PATH}`, import.meta.url));
writeFileSync(target, renderPolicyJsonSchema());
console.log(`wrote ${POLICY_JSON_SCHEMA_PATH}`);
