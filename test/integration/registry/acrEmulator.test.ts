import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConfigurationError,
  GuardError,
  NotFoundError,
  PartialListingError,
} from "../../../shared/errors/index.js";
import {
  collectListing,
  copyImage,
  InMemoryAuditSink,
  type OpenRegistryOptions,
  openRegistry,
  parseImageReference,
  type Registry,
} from "../../../shared/registry/index.js";
import { InMemoryTelemetry } from "../../../shared/telemetry/telemetry.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";

/**
 * The ACR adapter against the emulator over HTTPS with the real @azure/container-registry SDK.
 * Call counts come from the emulator's own stats; 401 answers are the SDK's challenge round-trips
 * (one per new token scope), so they are left out when counting the calls an operation costs.
 */
let env: TestEmulator;
const audit = new InMemoryAuditSink();
const telemetry = new InMemoryTelemetry();

function options(overrides: Partial<OpenRegistryOptions> = {}): OpenRegistryOptions {
  return {
    registry: env.loginServer,
    credentials: { kind: "token", credential: env.credential },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
    audit,
    telemetry,
    actor: "integration test",
    retryPolicy: { baseDelayMs: 5, maxDelayMs: 50 },
    ...overrides,
  };
}

/** Calls per route, without the SDK's 401 challenge round-trips and the token endpoints. */
function calls(): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [route, byStatus] of Object.entries(env.emulator.stats().byRouteAndStatus)) {
    if (route.includes("/oauth2/")) continue;
    const count = Object.entries(byStatus)
      .filter(([status]) => status !== "401")
      .reduce((sum, [, n]) => sum + n, 0);
    if (count > 0) result[route] = count;
  }
  return result;
}

beforeAll(async () => {
  env = await startTestEmulator({ seed: { kind: "demo" }, randomSeed: 7 });
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => {
  audit.records.length = 0;
  env.emulator.setFaults({ failRates: {}, latencyMs: 0, retryAfterSeconds: 0, rateLimits: {} });
});

describe("ACR adapter on the emulator", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await openRegistry(options());
  });

  it("recognises the emulator as an ACR (it serves /acr/v1/)", () => {
    expect(registry.kind).toBe("acr");
    expect(registry.capabilities).toMatchObject({ locks: true, listsUntaggedManifests: true });
  });

  it("follows Link to the end: ⌈N/page⌉ catalog calls", async () => {
    env.emulator.resetStats();
    const names = await collectListing(registry.listRepositories({ pageSize: 2 }));
    expect(names).toEqual(["team/api", "team/web", "tools/base"]);
    expect(calls()).toEqual({ "GET /acr/v1/_catalog": 2 });
  });

  it("checks existence with exactly one HEAD and nothing else", async () => {
    await registry.exists(parseImageReference("team/web:latest"));
    env.emulator.resetStats();
    expect(await registry.exists(parseImageReference("team/web:1.0.0"))).toBe(true);
    expect(calls()).toEqual({ "HEAD /v2/{name}/manifests/{reference}": 1 });
    env.emulator.resetStats();
    expect(await registry.exists(parseImageReference("team/web:no-such-tag"))).toBe(false);
    expect(calls()).toEqual({ "HEAD /v2/{name}/manifests/{reference}": 1 });
  });

  it("inspects an index: every platform child, created time and tags from ACR, locks", async () => {
    const details = await registry.inspect(parseImageReference("team/web:latest"));
    expect(details.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(details.platforms.map((p) => [p.os, p.architecture, p.variant])).toEqual([
      ["linux", "amd64", undefined],
      ["linux", "arm64", "v8"],
    ]);
    expect(details.tags).toEqual(["1.11.0", "latest"]);
    expect(details.createdFrom).toBe("registry");
    expect(details.createdAt?.getTime()).toBeLessThan(Date.now());
    expect(details.locks).toEqual({
      deleteEnabled: true,
      writeEnabled: true,
      readEnabled: true,
      listEnabled: true,
    });
    for (const platform of details.platforms) {
      expect(await registry.exists({ repository: "team/web", digest: platform.digest })).toBe(true);
    }
  });

  it("finds signatures and SBOMs through the referrers API, and inspect shows their subject", async () => {
    const release = await registry.inspect(parseImageReference("team/api:2.1.0"));
    const referrers = await registry.listReferrers("team/api", release.digest);
    expect(referrers.map((r) => r.artifactType).sort()).toEqual([
      "application/spdx+json",
      "application/vnd.cncf.notary.signature",
    ]);
    const signature = referrers.find((r) => r.artifactType === "application/vnd.cncf.notary.signature");
    const details = await registry.inspect({ repository: "team/api", digest: signature?.digest ?? "" });
    expect(details.subject?.digest).toBe(release.digest);
    expect(details.artifactType).toBe("application/vnd.cncf.notary.signature");
  });

  it("lists manifests with metadata, newest first, one call per page and no per-manifest calls", async () => {
    env.emulator.resetStats();
    const manifests = await collectListing(
      registry.listManifests("team/web", { order: "newest-first", pageSize: 3 }),
    );
    expect(manifests).toHaveLength(8);
    expect(calls()).toEqual({ "GET /acr/v1/{name}/_manifests": Math.ceil(8 / 3) });
    const times = manifests.map((m) => m.updatedAt?.getTime() ?? 0);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const index = manifests.find((m) => m.tags.includes("latest"));
    expect(index?.children).toHaveLength(2);
    expect(manifests.filter((m) => m.tags.length === 0).length).toBeGreaterThan(0);
    expect(manifests.every((m) => m.locks !== undefined && m.createdAt !== undefined)).toBe(true);
  });

  it("says a listing is partial when the registry fails for good half-way", async () => {
    const fragile = await openRegistry(
      options({ retryPolicy: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } }),
    );
    const seen: string[] = [];
    const error = await (async () => {
      try {
        for await (const manifest of fragile.listManifests("team/web", { pageSize: 2 })) {
          seen.push(manifest.digest);
          env.emulator.setFaults({ failRates: { "500": 1 } });
        }
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(PartialListingError);
    expect((error as PartialListingError).itemsSeen).toBe(2);
    expect(seen).toHaveLength(2);
    expect(String((error as Error).message)).toMatch(/not the complete listing/);
  });

  it("answers correctly through injected 429s, 500s and latency", async () => {
    const reference = await collectListing(registry.listManifests("team/api"));
    const referenceTags = await collectListing(registry.listTags("tools/base"));
    env.emulator.setFaults({
      failRates: { "429": 0.2, "500": 0.1 },
      latencyMs: 5,
      retryAfterSeconds: 0,
      randomSeed: 11,
    });
    env.emulator.resetStats();
    const counters = new InMemoryTelemetry();
    const faulty = await openRegistry(options({ telemetry: counters }));
    const manifests = await collectListing(faulty.listManifests("team/api", { pageSize: 2 }));
    expect(manifests.map((m) => m.digest).sort()).toEqual(reference.map((m) => m.digest).sort());
    expect((await collectListing(faulty.listTags("tools/base", { pageSize: 1 }))).map((t) => t.name)).toEqual(
      referenceTags.map((t) => t.name),
    );
    expect(await faulty.exists(parseImageReference("team/api:2.2.0"))).toBe(true);
    expect((await faulty.inspect(parseImageReference("team/web:latest"))).platforms).toHaveLength(2);
    const stats = env.emulator.stats();
    expect(stats.faults.injected429 + stats.faults.injected500).toBeGreaterThan(0);
    expect(counters.value("registry.retries")).toBeGreaterThan(0);
    expect(counters.value("registry.throttled")).toBeGreaterThan(0);
  });

  it("copies an index with its children inside the registry by mounting blobs, keeping the digest", async () => {
    const source = await registry.inspect(parseImageReference("team/web:latest"));
    env.emulator.resetStats();
    const result = await copyImage({
      source: registry,
      target: registry,
      sourceReference: parseImageReference("team/web:latest"),
      targetReference: parseImageReference("mirror/web:copy"),
      audit,
      actor: "test",
    });
    expect(result.digest).toBe(source.digest);
    expect(result.manifests).toBe(3);
    expect(result.blobsUploaded).toBe(0);
    expect(result.blobsMounted).toBeGreaterThan(0);
    expect(calls()["PATCH /v2/{name}/blobs/uploads/{uuid}"]).toBeUndefined();
    const copy = await registry.inspect(parseImageReference("mirror/web:copy"));
    expect(copy.digest).toBe(source.digest);
    for (const platform of copy.platforms) {
      expect(await registry.exists({ repository: "mirror/web", digest: platform.digest })).toBe(true);
    }
    expect(audit.records.map((r) => [r.action, r.outcome])).toEqual([["copy", "succeeded"]]);
  });

  it("copies referrers (API and cosign tags) with withReferrers, each manifest once", async () => {
    const release = await registry.inspect(parseImageReference("team/api:2.1.0"));
    const referrers = await registry.listReferrers("team/api", release.digest);
    expect(referrers).toHaveLength(2);
    // The SBOM is also attached under cosign's tag scheme: copied once, tag and all.
    const sbom = referrers[1]?.digest as string;
    const cosignTag = `sha256-${release.digest.slice("sha256:".length)}.sbom`;
    await registry.putManifest("team/api", cosignTag, await registry.getManifest("team/api", sbom));
    const result = await copyImage({
      source: registry,
      target: registry,
      sourceReference: parseImageReference("team/api:2.1.0"),
      targetReference: parseImageReference("mirror/api:2.1.0"),
      audit,
      actor: "test",
      withReferrers: true,
    });
    expect(result).toMatchObject({ digest: release.digest, manifests: 3, referrers: 2, notes: [] });
    expect((await registry.listReferrers("mirror/api", release.digest)).map((r) => r.digest).sort()).toEqual(
      referrers.map((r) => r.digest).sort(),
    );
    expect((await registry.inspect(parseImageReference(`mirror/api:${cosignTag}`))).digest).toBe(sbom);
    await registry.untag("team/api", cosignTag);
  });

  it("refuses to delete a locked manifest, deletes it once unlocked, and counts a second delete as done", async () => {
    const locked = await registry.inspect(parseImageReference("team/api:2.0.0"));
    expect(locked.locks?.deleteEnabled).toBe(false);
    await expect(registry.deleteManifest("team/api", locked.digest)).rejects.toBeInstanceOf(GuardError);
    await registry.setLocks({ repository: "team/api", digest: locked.digest }, { deleteEnabled: true });
    await registry.deleteManifest("team/api", locked.digest);
    await registry.deleteManifest("team/api", locked.digest);
    expect(await registry.exists({ repository: "team/api", digest: locked.digest })).toBe(false);
    expect(audit.records.map((r) => [r.action, r.outcome])).toEqual([
      ["delete-manifest", "refused"],
      ["set-locks", "succeeded"],
      ["delete-manifest", "succeeded"],
      ["delete-manifest", "succeeded"],
    ]);
    expect(audit.records[0]).toMatchObject({
      registry: env.loginServer,
      repository: "team/api",
      digest: locked.digest,
    });
  });

  it("untags without touching the manifest", async () => {
    const before = await registry.inspect(parseImageReference("team/api:stable"));
    await registry.untag("team/api", "stable");
    expect(await registry.exists(parseImageReference("team/api:stable"))).toBe(false);
    expect((await registry.inspect({ repository: "team/api", digest: before.digest })).tags).toEqual([
      "2.1.0",
    ]);
  });

  it("turns a missing repository into NotFoundError that names it", async () => {
    await expect(registry.inspect(parseImageReference("team/nope:v1"))).rejects.toBeInstanceOf(NotFoundError);
    await expect(collectListing(registry.listManifests("team/nope"))).rejects.toThrow(/team\/nope.*spelling/);
  });
});

describe("credentials and the allow-list", () => {
  it("refuses a registry outside the allow-list before any request", async () => {
    env.emulator.resetStats();
    await expect(openRegistry(options({ allowList: ["other.azurecr.io"] }))).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    expect(env.emulator.stats().total).toBe(0);
  });

  it("signs in with a username and password through GET /oauth2/token", async () => {
    const withUser = await startTestEmulator({
      seed: { kind: "demo" },
      username: "admin",
      password: "s3cret",
      anonymousPull: true,
    });
    try {
      const base = {
        registry: withUser.loginServer,
        allowList: [withUser.loginServer],
        caCertPem: withUser.emulator.caCert,
        audit,
      };
      const basic = await openRegistry({
        ...base,
        credentials: { kind: "basic", username: "admin", password: "s3cret" },
      });
      expect(await collectListing(basic.listRepositories())).toHaveLength(3);
      expect(withUser.emulator.stats().byRouteAndStatus["GET /oauth2/token"]?.["200"]).toBeGreaterThan(0);
      const locked = await basic.setLocks(parseImageReference("team/web:1.0.0"), { writeEnabled: false });
      expect(locked.writeEnabled).toBe(false);

      const wrong = await openRegistry({
        ...base,
        credentials: { kind: "basic", username: "admin", password: "nope" },
      });
      await expect(collectListing(wrong.listRepositories())).rejects.toThrow(AuthenticationError);
      await expect(collectListing(wrong.listRepositories())).rejects.toThrow(/username and password/);

      const anonymous = await openRegistry({ ...base, credentials: { kind: "anonymous" } });
      expect((await anonymous.inspect(parseImageReference("team/web:latest"))).platforms).toHaveLength(2);
      const digest = (await anonymous.inspect(parseImageReference("team/web:1.0.0"))).digest;
      await expect(anonymous.deleteManifest("team/web", digest)).rejects.toThrow(/credentials.*role/);
    } finally {
      await withUser.close();
    }
  });
});
