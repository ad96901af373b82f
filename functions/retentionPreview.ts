import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { z } from "zod";
import {
  ConfigurationError,
  ensureError,
  isTransient,
  ThrottledError,
  ValidationError,
} from "../shared/errors/index.js";
import { LoginServerSchema, RepositoryNameSchema } from "../shared/oci/reference.js";
import { readOnlyRegistry } from "../shared/retention/adapters/index.js";
import { planRegistryRetention } from "../shared/retention/enforce.js";
import { DECISION_FILTERS, DecisionFilterListSchema, selectDecisions } from "../shared/retention/plan.js";
import { type RetentionRuntime, retentionRuntime } from "./composition.js";

/**
 * `GET /api/retention/preview?repository=R[&registry=LOGIN_SERVER][&only=actions,guarded]` (function
 * key required): the retention plan of one repository as JSON, every decision with its rule, guard
 * and reason, and the bytes a run would reclaim; `only` keeps just those kinds of decision (the
 * totals still count all). Read-only: the registry view it plans with cannot delete. The registry
 * comes from the allow-list only: by name when several are configured, else the only one.
 */
export const PreviewQuerySchema = z.strictObject({
  repository: RepositoryNameSchema,
  registry: LoginServerSchema.optional(),
  only: DecisionFilterListSchema.optional(),
});

function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { "Cache-Control": "no-store", ...headers } };
}

export function createRetentionPreviewHandler(
  runtime: () => Promise<RetentionRuntime> = retentionRuntime,
  now: () => Date = () => new Date(),
) {
  return async function retentionPreview(
    request: HttpRequest,
    context: InvocationContext,
  ): Promise<HttpResponseInit> {
    const query = Object.fromEntries(request.query.entries());
    const parsed = PreviewQuerySchema.safeParse(query);
    if (!parsed.success) {
      return json(400, {
        error: "invalid query",
        problems: parsed.error.issues.map(
          (issue) =>
            `${issue.path.length === 0 ? "query" : String(issue.path[0])}: ${issue.path.length === 0 ? issue.message : describe(issue.path[0], query)}`,
        ),
      });
    }
    try {
      const rt = await runtime();
      if (rt.policy === undefined) {
        return json(409, { error: "no retention policy is configured (ACR_STEWARD_RETENTION_POLICY)" });
      }
      const loginServer = parsed.data.registry ?? onlyRegistry(rt);
      if (loginServer === undefined) {
        return json(400, {
          error: `several registries are configured (${rt.config.registries.join(", ")}): name one with ?registry=`,
        });
      }
      if (!rt.config.registries.includes(loginServer.toLowerCase())) {
        return json(400, { error: `registry ${loginServer} is not in the allow-list` });
      }
      const registry = await rt.openRegistry(loginServer);
      const preview = await planRegistryRetention(
        { repositories: [parsed.data.repository] },
        { registry: readOnlyRegistry(registry), policy: rt.policy, caps: rt.caps },
        now(),
      );
      const unavailable = preview.unavailableRepositories[0];
      if (unavailable !== undefined) {
        context.warn(`retention preview unavailable: ${unavailable.error}`);
        return json(
          503,
          { error: "the registry is unavailable or throttling; try again later" },
          { "Retry-After": "30" },
        );
      }
      if (preview.missingRepositories.length > 0) {
        return json(404, { error: `repository ${parsed.data.repository} does not exist in ${loginServer}` });
      }
      const only = parsed.data.only;
      const repository = selectDecisions(preview.plan, only).repositories[0];
      return json(200, {
        registry: registry.loginServer,
        repository: parsed.data.repository,
        /** False when no rule of the policy applies to the repository: nothing was read or planned. */
        inScope: preview.outOfScopeRepositories.length === 0,
        plannedAt: preview.plan.plannedAt,
        /** What a run would do now; whether it deletes depends on ACR_STEWARD_RETENTION_ENFORCE. */
        enforcement: rt.config.retentionEnforce ? "enabled" : "dry-run-only",
        caps: preview.plan.caps,
        listingComplete: repository?.listingComplete ?? true,
        totals: preview.plan.totals,
        ...(only === undefined ? {} : { only }),
        decisions: repository?.decisions ?? [],
      });
    } catch (thrown) {
      const error = ensureError(thrown);
      if (error instanceof ValidationError) return json(400, { error: error.message });
      if (isTransient(error)) {
        const retryAfter =
          error instanceof ThrottledError && error.retryAfterMs !== undefined
            ? Math.ceil(error.retryAfterMs / 1000)
            : 30;
        context.warn(`retention preview unavailable: ${error.message}`);
        return json(
          503,
          { error: "the registry or storage is unavailable; try again later" },
          {
            "Retry-After": String(retryAfter),
          },
        );
      }
      context.error(`retention preview failed: ${error.message}`);
      const status = error instanceof ConfigurationError ? 500 : 502;
      return json(status, { error: error.message });
    }
  };
}

function onlyRegistry(rt: RetentionRuntime): string | undefined {
  return rt.config.registries.length === 1 ? rt.config.registries[0] : undefined;
}

function describe(field: PropertyKey | undefined, query: Record<string, string>): string {
  if (field === "repository") {
    return query.repository === undefined
      ? "is required (?repository=team/app)"
      : "is not a repository name (lowercase path segments, OCI grammar)";
  }
  if (field === "registry") return "is not a registry login server";
  if (field === "only") return `takes a comma-separated list of ${DECISION_FILTERS.join(", ")}`;
  return "is not a known parameter";
}

export const retentionPreviewHandler = createRetentionPreviewHandler();

app.http("retentionPreview", {
  route: "retention/preview",
  methods: ["GET"],
  authLevel: "function",
  handler: retentionPreviewHandler,
});
