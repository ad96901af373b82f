import { HttpRequest, InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createEnforceRetentionHandler, QUEUE_ACTOR } from "../../../functions/enforceRetention.js";
import { createRetentionPreviewHandler } from "../../../functions/retentionPreview.js";
import { loadConfig } from "../../../shared/config/config.js";
import { STORAGE_CONNECTION } from "../../../shared/config/settings.js";
import { ThrottledError, UnavailableError } from "../../../shared/errors/index.js";
import { createTableClient } from "../../../shared/inventory/tableClients.js";
import { InMemoryRegistry } from "../../../shared/registry/index.js";
import { buildRetentionRuntime, type RetentionRuntime } from "../../../shared/runtime/index.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";

/**
 * The retention functions without the Functions host: handlers called with `InvocationContext`
 * and `HttpRequest`, a real Azurite for audit rows and leases, and the in-memory registry.
 * Registrations are checked in registration.test.ts.
 */
const REGISTRY = "contoso.azurecr.io";
const DAY = 86_400_000;
const POLICY = `
version: 1
rules:
  - id: keep-releases
    repositories: { include: ["**"] }
    keep: { tags: { regex: "v[0-9]+" } }
  - id: untagged
    repositories: { include: ["**"] }
    delete: { untaggedOlderThan: 30d }
`;

let storage: string;
beforeAll(async () => {
  storage = await getTestStorage();
});
afterAll(stopTestStorage);

interface Fixture {
  readonly registry: InMemoryRegistry;
  readonly runtime: RetentionRuntime;
  readonly auditTable: string;
  readonly old: string;
  readonly recent: string;
  readonly release: string;
}

async function fixture(settings: Record<string, string> = {}, openFails?: Error): Promise<Fixture> {
  let clock = Date.now() - 90 * DAY;
  const registry = new InMemoryRegistry(REGISTRY, () => new Date(clock));
  const release = registry.pushImage("team/app", { tag: "v1", layerText: "release" });
  const old = registry.pushImage("team/app", { layerText: "old build" });
  clock = Date.now() - 2 * DAY;
  const recent = registry.pushImage("team/app", { layerText: "recent build" });
  const auditTable = uniqueName("audit");
  const config = loadConfig({
    ACR_STEWARD_REGISTRIES: REGISTRY,
    [STORAGE_CONNECTION]: storage,
    ACR_STEWARD_RETENTION_POLICY: POLICY,
    ...settings,
  });
  const runtime = await buildRetentionRuntime(config, {
    openRegistry: async () => {
      if (openFails) throw openFails;
      return registry;
    },
    tables: { audit: auditTable, coordination: uniqueName("coordination") },
  });
  return { registry, runtime, auditTable, old, recent, release };
}

function invocation(functionName: string): {
  context: InvocationContext;
  errors: string[];
  logs: unknown[][];
} {
  const errors: string[] = [];
  const logs: unknown[][] = [];
  const context = new InvocationContext({
    functionName,
    triggerMetadata: { id: "message-1", dequeueCount: 1 },
    logHandler: (level, ...args) => {
      if (level === "error") errors.push(args.map(String).join(" "));
      else logs.push(args);
    },
  });
  return { context, errors, logs };
}

function message(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    registry: REGISTRY,
    repository: "team/app",
    trigger: "event",
    requestedAt: new Date().toISOString(),
    ...overrides,
  };
}

async function auditRows(storageConnection: string, table: string): Promise<Record<string, unknown>[]> {
  const client = createTableClient({ kind: "connectionString", connectionString: storageConnection }, table);
  const rows: Record<string, unknown>[] = [];
  for await (const row of client.listEntities()) rows.push(row);
  return rows;
}

async function digests(registry: InMemoryRegistry): Promise<string[]> {
  const result: string[] = [];
  for await (const manifest of registry.listManifests("team/app")) result.push(manifest.digest);
  return result.sort();
}

describe("enforceRetention (queue trigger)", () => {
  it("runs a dry run while the kill switch is off: nothing deleted, audit rows say so", async () => {
    const f = await fixture();
    const before = await digests(f.registry);
    const { context, errors } = invocation("enforceRetention");
    await createEnforceRetentionHandler(async () => f.runtime)(message(), context);
    expect(errors).toEqual([]);
    expect(await digests(f.registry)).toEqual(before);
    const rows = await auditRows(storage, f.auditTable);
    expect(rows).toEqual([
      expect.objectContaining({ digest: f.old, outcome: "would-delete", dryRun: true, actor: QUEUE_ACTOR }),
    ]);
  });

  it("deletes when ACR_STEWARD_RETENTION_ENFORCE is true, and accepts the message as JSON text", async () => {
    const f = await fixture({ ACR_STEWARD_RETENTION_ENFORCE: "true" });
    const { context, errors } = invocation("enforceRetention");
    await createEnforceRetentionHandler(async () => f.runtime)(JSON.stringify(message()), context);
    expect(errors).toEqual([]);
    expect(await digests(f.registry)).toEqual([f.recent, f.release].sort());
    const rows = await auditRows(storage, f.auditTable);
    expect(rows).toEqual([
      expect.objectContaining({ digest: f.old, outcome: "deleted", dryRun: false, ruleId: "untagged" }),
    ]);
  });

  it("logs and drops messages that can never succeed", async () => {
    const f = await fixture({ ACR_STEWARD_RETENTION_ENFORCE: "true" });
    const before = await digests(f.registry);
    const handler = createEnforceRetentionHandler(async () => f.runtime);
    for (const bad of [
      "not json",
      message({ version: 2 }),
      message({ repository: "Team/App" }),
      message({ extra: true }),
      message({ registry: "other.azurecr.io" }),
    ]) {
      const { context, errors } = invocation("enforceRetention");
      await expect(handler(bad, context)).resolves.toBeUndefined();
      expect(errors).toHaveLength(1);
    }
    expect(await digests(f.registry)).toEqual(before);
    expect(await auditRows(storage, f.auditTable)).toEqual([]);
  });

  it("throws transient failures so the message is retried", async () => {
    const throttled = await fixture({}, new ThrottledError("slow down", { retryAfterMs: 1000 }));
    await expect(
      createEnforceRetentionHandler(async () => throttled.runtime)(
        message(),
        invocation("enforceRetention").context,
      ),
    ).rejects.toBeInstanceOf(ThrottledError);
    await expect(
      createEnforceRetentionHandler(async () => {
        throw new UnavailableError("storage down");
      })(message(), invocation("enforceRetention").context),
    ).rejects.toBeInstanceOf(UnavailableError);
  });

  it("throws when the repository cannot be listed, so the request comes back later", async () => {
    const f = await fixture({ ACR_STEWARD_RETENTION_ENFORCE: "true" });
    f.registry.failListingsAfterPages = 0;
    await expect(
      createEnforceRetentionHandler(async () => f.runtime)(message(), invocation("enforceRetention").context),
    ).rejects.toThrow(/could not be listed.*retried/);
    const preview = await createRetentionPreviewHandler(async () => f.runtime)(
      new HttpRequest({
        method: "GET",
        url: "https://app.example/api/retention/preview?repository=team/app",
      }),
      invocation("retentionPreview").context,
    );
    expect(preview.status).toBe(503);
    f.registry.failListingsAfterPages = undefined;
    expect((await digests(f.registry)).length).toBe(3);
  });

  it("does nothing without a policy", async () => {
    const config = loadConfig({ ACR_STEWARD_REGISTRIES: REGISTRY, [STORAGE_CONNECTION]: storage });
    const registry = new InMemoryRegistry(REGISTRY);
    registry.pushImage("team/app", { layerText: "x" });
    const runtime = await buildRetentionRuntime(config, {
      openRegistry: async () => registry,
      tables: { audit: uniqueName("audit"), coordination: uniqueName("coordination") },
    });
    const { context, errors, logs } = invocation("enforceRetention");
    await createEnforceRetentionHandler(async () => runtime)(message(), context);
    expect(errors).toEqual([]);
    expect(String(logs[0]?.[0])).toMatch(/no policy/);
  });

  it("refuses to start with an invalid policy, naming the setting", async () => {
    const config = loadConfig({
      ACR_STEWARD_REGISTRIES: REGISTRY,
      [STORAGE_CONNECTION]: storage,
      ACR_STEWARD_RETENTION_POLICY: "version: 1\nrules: []\n",
    });
    await expect(buildRetentionRuntime(config)).rejects.toThrow(/ACR_STEWARD_RETENTION_POLICY/);
  });
});

describe("GET /api/retention/preview", () => {
  const get = (query: string) =>
    new HttpRequest({ method: "GET", url: `https://app.example/api/retention/preview${query}` });

  it("returns the plan with reasons and reclaimable bytes, changing nothing", async () => {
    const f = await fixture({ ACR_STEWARD_RETENTION_ENFORCE: "true" });
    const before = await digests(f.registry);
    const response = await createRetentionPreviewHandler(async () => f.runtime)(
      get("?repository=team/app"),
      invocation("retentionPreview").context,
    );
    expect(response.status).toBe(200);
    const body = response.jsonBody as {
      registry: string;
      totals: { delete: number; bytesReclaimable: number };
      decisions: { digest: string; action: string; ruleId: string | null; reason: string }[];
    };
    expect(body.registry).toBe(REGISTRY);
    expect(body.totals.delete).toBe(1);
    expect(body.totals.bytesReclaimable).toBeGreaterThanOrEqual(0);
    const byDigest = new Map(body.decisions.map((d) => [d.digest, d]));
    expect(byDigest.get(f.old)).toMatchObject({ action: "delete", ruleId: "untagged" });
    expect(byDigest.get(f.release)).toMatchObject({ action: "keep", ruleId: "keep-releases" });
    expect(byDigest.get(f.recent)?.reason).toMatch(/untagged/);
    expect(await digests(f.registry)).toEqual(before);
    expect(await auditRows(storage, f.auditTable)).toEqual([]);
  });

  it("with ?only= returns just those kinds of decision, and the full totals", async () => {
    const f = await fixture();
    const handler = createRetentionPreviewHandler(async () => f.runtime);
    type Body = {
      only?: string[];
      totals: { manifests: number; delete: number };
      decisions: { digest: string; action: string; guard: string | null }[];
    };
    const full = (await handler(get("?repository=team/app"), invocation("retentionPreview").context))
      .jsonBody as Body;
    const actions = await handler(
      get("?repository=team/app&only=actions"),
      invocation("retentionPreview").context,
    );
    expect(actions.status).toBe(200);
    const body = actions.jsonBody as Body;
    expect(body.only).toEqual(["actions"]);
    expect(body.totals).toEqual(full.totals);
    expect(body.decisions.map((d) => d.digest)).toEqual([f.old]);
    const keeps = (
      await handler(get("?repository=team/app&only=kept,guarded"), invocation("retentionPreview").context)
    ).jsonBody as Body;
    expect(keeps.decisions.length).toBe(full.decisions.length - 1);
    expect(keeps.decisions.every((d) => d.action === "keep")).toBe(true);
    const bad = await handler(
      get("?repository=team/app&only=deletes"),
      invocation("retentionPreview").context,
    );
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.jsonBody)).toMatch(
      /only: takes a comma-separated list of actions, guarded, kept/,
    );
  });

  it("does not read a repository that no rule applies to", async () => {
    const f = await fixture({
      ACR_STEWARD_RETENTION_ENFORCE: "true",
      ACR_STEWARD_RETENTION_POLICY: POLICY.replaceAll('["**"]', '["other/**"]'),
    });
    const read = vi.spyOn(f.registry, "listManifests");
    const response = await createRetentionPreviewHandler(async () => f.runtime)(
      get("?repository=team/app"),
      invocation("retentionPreview").context,
    );
    expect(response.status).toBe(200);
    expect(response.jsonBody).toMatchObject({ inScope: false, decisions: [], totals: { manifests: 0 } });
    const { context, errors } = invocation("enforceRetention");
    await createEnforceRetentionHandler(async () => f.runtime)(message(), context);
    expect(errors).toEqual([]);
    expect(read).not.toHaveBeenCalled();
    expect(await auditRows(storage, f.auditTable)).toEqual([]);
  });

  it("answers 400 for a missing or invalid repository and for registries outside the allow-list", async () => {
    const f = await fixture();
    const handler = createRetentionPreviewHandler(async () => f.runtime);
    for (const query of [
      "",
      "?repository=",
      "?repository=Team/App",
      "?repository=team//app",
      "?repository=team/app&registry=other.azurecr.io",
      "?repository=team/app&registry=https://evil.example/x",
      "?repository=team/app&unknown=1",
    ]) {
      const response = await handler(get(query), invocation("retentionPreview").context);
      expect(response.status, query).toBe(400);
      expect(JSON.stringify(response.jsonBody)).toMatch(/repository|registry|unknown|allow-list/);
    }
  });

  it("answers 404 for a repository that does not exist and 409 without a policy", async () => {
    const f = await fixture();
    const missing = await createRetentionPreviewHandler(async () => f.runtime)(
      get("?repository=team/none"),
      invocation("retentionPreview").context,
    );
    expect(missing.status).toBe(404);
    const config = loadConfig({ ACR_STEWARD_REGISTRIES: REGISTRY, [STORAGE_CONNECTION]: storage });
    const runtime = await buildRetentionRuntime(config, {
      openRegistry: async () => f.registry,
      tables: { audit: uniqueName("audit"), coordination: uniqueName("coordination") },
    });
    const none = await createRetentionPreviewHandler(async () => runtime)(
      get("?repository=team/app"),
      invocation("retentionPreview").context,
    );
    expect(none.status).toBe(409);
  });

  it("answers 503 with Retry-After when the registry throttles", async () => {
    const f = await fixture({}, new ThrottledError("slow down", { retryAfterMs: 7000 }));
    const response = await createRetentionPreviewHandler(async () => f.runtime)(
      get("?repository=team/app"),
      invocation("retentionPreview").context,
    );
    expect(response.status).toBe(503);
    expect((response.headers as Record<string, string>)["Retry-After"]).toBe("7");
  });
});
