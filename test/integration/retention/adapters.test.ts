import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO } from "../../../emulator/index.js";
import {
  InMemoryAuditSink,
  InMemoryRegistry,
  openRegistry,
  type Registry,
} from "../../../shared/registry/index.js";
import { MEDIA_TYPES, sha256Digest } from "../../../shared/registry/ociManifest.js";
import {
  loadRetentionCandidates,
  type RegistryReader,
  RegistryRetentionActions,
  readOnlyRegistry,
} from "../../../shared/retention/adapters/index.js";
import { planRetention } from "../../../shared/retention/planner.js";
import { parseRetentionPolicy } from "../../../shared/retention/policy.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";

/**
 * The retention adapters: candidates from a registry listing (in-memory registry, where listings and
 * reads can be broken at will), and the registry actions on the emulator with the real SDK.
 */
const DAY = 86_400_000;
const DELETE_OLD_UNTAGGED = parseRetentionPolicy(`
version: 1
rules:
  - id: untagged
    repositories: { include: ["**"] }
    delete: { untaggedOlderThan: 1d }
`);
const CAPS = { perRepository: 100, global: 100 };

function oldRegistry(): InMemoryRegistry {
  const longAgo = new Date(Date.now() - 60 * DAY);
  return new InMemoryRegistry("inmemory.azurecr.io", () => longAgo);
}

function pushReferrer(registry: InMemoryRegistry, repository: string, subject: string): string {
  const empty = registry.addBlob(Buffer.from("{}"), MEDIA_TYPES.ociEmpty);
  const payload = registry.addBlob(Buffer.from("signature"), "application/jose+json");
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: "application/vnd.cncf.notary.signature",
      config: empty,
      layers: [payload],
      subject: { mediaType: MEDIA_TYPES.ociManifest, digest: subject, size: 1 },
    }),
  );
  const digest = sha256Digest(bytes);
  void registry.putManifest(repository, digest, { digest, mediaType: MEDIA_TYPES.ociManifest, bytes });
  return digest;
}

describe("loadRetentionCandidates", () => {
  it("reads subjects and children from manifest content, and keeps referrers of kept subjects", async () => {
    const registry = oldRegistry();
    const image = registry.pushImage("team/app", { tag: "v1", layerText: "image" });
    const signature = pushReferrer(registry, "team/app", image);
    const amd64 = registry.pushImage("team/app", { layerText: "amd64" });
    const index = registry.pushIndex(
      "team/app",
      [{ digest: amd64, architecture: "amd64", os: "linux" }],
      "multi",
    );
    const listing = await loadRetentionCandidates(readOnlyRegistry(registry), "team/app");
    expect(listing.listingComplete).toBe(true);
    const byDigest = new Map(listing.manifests.map((m) => [m.digest, m]));
    expect(byDigest.get(signature)).toMatchObject({
      subject: image,
      metadataReadable: true,
      artifactType: "application/vnd.cncf.notary.signature",
    });
    expect(byDigest.get(index)?.children).toEqual([amd64]);
    expect(byDigest.get(image)?.tags.map((t) => t.name)).toEqual(["v1"]);

    const plan = planRetention([listing], DELETE_OLD_UNTAGGED, { now: new Date(), caps: CAPS });
    const decisions = new Map(plan.repositories[0]?.decisions.map((d) => [d.digest, d]));
    expect(decisions.get(signature)).toMatchObject({ action: "keep", guard: "referrer-subject" });
    expect(decisions.get(amd64)).toMatchObject({ action: "keep", guard: "index-child" });
  });

  it("marks a listing that broke off as partial, so the planner decides nothing", async () => {
    const registry = oldRegistry();
    for (let i = 0; i < 5; i++) registry.pushImage("team/app", { layerText: `build ${i}` });
    registry.failListingsAfterPages = 1;
    const listing = await loadRetentionCandidates(readOnlyRegistry(registry), "team/app", { pageSize: 2 });
    expect(listing.listingComplete).toBe(false);
    expect(listing.manifests).toHaveLength(2);
    const plan = planRetention([listing], DELETE_OLD_UNTAGGED, { now: new Date(), caps: CAPS });
    expect(plan.totals.delete).toBe(0);
    expect(plan.repositories[0]?.decisions.every((d) => d.guard === "partial-listing")).toBe(true);
  });

  it("hands an unreadable manifest over as unreadable (fail closed); an unreadable index stops all deletes", async () => {
    const registry = oldRegistry();
    const unreadable = registry.pushImage("team/app", { layerText: "unreadable" });
    const other = registry.pushImage("team/app", { layerText: "other" });
    const broken = (digests: readonly string[]): RegistryReader => ({
      ...readOnlyRegistry(registry),
      getManifest: async (repository, reference) => {
        if (digests.includes(reference)) throw new Error("the registry answered 500");
        return registry.getManifest(repository, reference);
      },
    });
    const listing = await loadRetentionCandidates(broken([unreadable]), "team/app");
    const plan = planRetention([listing], DELETE_OLD_UNTAGGED, { now: new Date(), caps: CAPS });
    const decisions = new Map(plan.repositories[0]?.decisions.map((d) => [d.digest, d]));
    expect(decisions.get(unreadable)).toMatchObject({ action: "keep", guard: "metadata-unreadable" });
    expect(decisions.get(other)).toMatchObject({ action: "delete" });

    const index = registry.pushIndex("team/app", [{ digest: other, architecture: "amd64", os: "linux" }]);
    const withIndex = await loadRetentionCandidates(broken([index]), "team/app");
    const blocked = planRetention([withIndex], DELETE_OLD_UNTAGGED, { now: new Date(), caps: CAPS });
    expect(blocked.totals.delete).toBe(0);
  });

  it("does not read Docker schema 2 manifests (they can have neither subject nor children)", async () => {
    const registry = oldRegistry();
    registry.pushImage("team/app", { layerText: "oci" });
    let reads = 0;
    const counting: RegistryReader = {
      ...readOnlyRegistry(registry),
      listManifests: (repository, options) => {
        const inner = registry.listManifests(repository, options);
        return {
          async *[Symbol.asyncIterator]() {
            for await (const m of inner)
              yield { ...m, mediaType: "application/vnd.docker.distribution.manifest.v2+json" };
          },
        };
      },
      getManifest: async (repository, reference) => {
        reads += 1;
        return registry.getManifest(repository, reference);
      },
    };
    const listing = await loadRetentionCandidates(counting, "team/app");
    expect(reads).toBe(0);
    expect(listing.manifests[0]?.metadataReadable).toBe(true);
  });

  it("the read-only view has no method that changes the registry", () => {
    const view = readOnlyRegistry(new InMemoryRegistry()) as unknown as Record<string, unknown>;
    for (const method of ["deleteManifest", "untag", "setLocks", "putManifest", "uploadBlob", "mountBlob"]) {
      expect(view[method], method).toBeUndefined();
    }
    expect(Object.isFrozen(view)).toBe(true);
  });
});

describe("RegistryRetentionActions on the emulator", () => {
  let env: TestEmulator;
  let registry: Registry;
  let actions: RegistryRetentionActions;
  const digestOf = async (repository: string, tag: string) =>
    (await registry.inspect({ repository, tag })).digest;

  beforeAll(async () => {
    env = await startTestEmulator({ seed: { kind: "demo" }, randomSeed: 3 });
    registry = await openRegistry({
      registry: env.loginServer,
      credentials: { kind: "token", credential: env.credential },
      allowList: [env.loginServer],
      caCertPem: env.emulator.caCert,
      audit: new InMemoryAuditSink(),
      retryPolicy: { baseDelayMs: 5, maxDelayMs: 50 },
    });
    actions = new RegistryRetentionActions(registry);
  }, 30_000);
  afterAll(async () => {
    await env?.close();
  });

  it("leaves a manifest alone when it carries a tag the plan did not know", async () => {
    const digest = await digestOf("team/api", "2.1.0");
    expect(await actions.deleteManifest(env.loginServer, "team/api", digest, ["2.1.0"])).toBe("changed");
    expect(await registry.exists({ repository: "team/api", digest })).toBe(true);
  });

  it("reports a locked manifest as locked and leaves it", async () => {
    const digest = await digestOf(DEMO.locked.repository, DEMO.locked.tag);
    expect(
      await actions.deleteManifest(env.loginServer, DEMO.locked.repository, digest, [DEMO.locked.tag]),
    ).toBe("locked");
    expect(await registry.exists({ repository: DEMO.locked.repository, digest })).toBe(true);
  });

  it("leaves a tag that moved to another manifest, and removes one that did not", async () => {
    const stable = await digestOf("team/api", "stable");
    const other = await digestOf("team/api", "2.2.0");
    expect(await actions.untag(env.loginServer, "team/api", "stable", other)).toBe("changed");
    expect(await actions.untag(env.loginServer, "team/api", "stable", stable)).toBe("untagged");
    expect(await registry.exists({ repository: "team/api", tag: "stable" })).toBe(false);
    expect(await actions.untag(env.loginServer, "team/api", "stable", stable)).toBe("not-found");
  });

  it("deletes what the plan expected, then reports it gone", async () => {
    const digest = await digestOf("tools/base", "3.18");
    expect(await actions.deleteManifest(env.loginServer, "tools/base", digest, ["3.18"])).toBe("deleted");
    expect(await actions.deleteManifest(env.loginServer, "tools/base", digest, ["3.18"])).toBe("not-found");
  });

  it("refuses a plan made for another registry", async () => {
    await expect(
      actions.deleteManifest("other.azurecr.io", "tools/base", `sha256:${"0".repeat(64)}`, []),
    ).rejects.toThrow(/other\.azurecr\.io/);
  });
});
