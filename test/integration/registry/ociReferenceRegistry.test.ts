import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnsupportedOperationError } from "../../../shared/errors/index.js";
import {
  collectListing,
  copyImage,
  InMemoryAuditSink,
  openRegistry,
  parseImageReference,
  type Registry,
} from "../../../shared/registry/index.js";
import { runCli } from "../../helpers/cliRun.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import {
  addImageIndex,
  buildImage,
  makeCertDir,
  makeTestCertificates,
  makeWorkDir,
  type OciLayoutImage,
  type RegistryAccess,
  skopeoCopy,
} from "../../helpers/ociTools.js";
import { type ReferenceRegistry, startReferenceRegistry } from "../../helpers/referenceRegistry.js";

/**
 * The generic OCI adapter against Debian's docker-registry (Docker distribution) over HTTPS, with
 * images built by umoci and pushed by skopeo: detection, listings, inspect from the image config,
 * ACR-only metadata reported as unknown, copy from the emulator (streamed across registries), deletes.
 */
let reference: ReferenceRegistry;
let work: { dir: string; dispose(): Promise<void> };
let caCertPem: string;
let registry: Registry;
let amd64: OciLayoutImage;
let index: OciLayoutImage;
const audit = new InMemoryAuditSink();

beforeAll(async () => {
  const certificates = await makeTestCertificates();
  caCertPem = certificates.caCertPem;
  reference = await startReferenceRegistry({
    tls: { certPem: certificates.certPem, keyPem: certificates.keyPem },
  });
  work = await makeWorkDir();
  const access: RegistryAccess = { host: reference.host, certDir: await makeCertDir(caCertPem, work.dir) };
  const layout = `${work.dir}/layout`;
  amd64 = await buildImage({
    layout,
    tag: "amd64",
    files: { "/hello.txt": "hello amd64\n" },
    architecture: "amd64",
  });
  const arm64 = await buildImage({
    layout,
    tag: "arm64",
    files: { "/hello.txt": "hello arm64\n" },
    architecture: "arm64",
  });
  index = await addImageIndex(layout, "multi", [
    { image: amd64, architecture: "amd64", os: "linux" },
    { image: arm64, architecture: "arm64", os: "linux" },
  ]);
  const push = (tag: string, target: string, all = false) =>
    skopeoCopy(`oci:${layout}:${tag}`, `docker://${reference.host}/${target}`, {
      dest: access,
      all,
      preserveDigests: true,
    });
  await push("amd64", "apps/hello:1.0");
  await push("amd64", "apps/hello:stable");
  await push("multi", "apps/hello:2.0", true);
  await push("amd64", "tools/one:1");
  registry = await openRegistry({
    registry: reference.host,
    credentials: { kind: "anonymous" },
    allowList: [reference.host],
    caCertPem,
    audit,
    pageSize: 1,
  });
});

afterAll(async () => {
  await reference?.stop();
  await work?.dispose();
});

describe("generic OCI adapter on docker-registry", () => {
  it("is chosen because the registry does not serve /acr/v1/", () => {
    expect(registry.kind).toBe("oci");
    expect(registry.capabilities).toEqual({
      listsUntaggedManifests: false,
      locks: false,
      orderByTime: false,
    });
  });

  it("lists repositories and tags page by page, following Link", async () => {
    expect(await collectListing(registry.listRepositories())).toEqual(["apps/hello", "tools/one"]);
    const tags = await collectListing(registry.listTags("apps/hello"));
    expect(tags.map((t) => t.name).sort()).toEqual(["1.0", "2.0", "stable"]);
    expect(tags.every((t) => t.digest === undefined && t.locks === undefined)).toBe(true);
  });

  it("lists manifests through their tags, with platform and created time from the image config", async () => {
    const manifests = await collectListing(registry.listManifests("apps/hello"));
    expect(manifests.map((m) => [m.digest, m.tags])).toEqual(
      expect.arrayContaining([
        [amd64.manifestDigest, ["1.0", "stable"]],
        [index.manifestDigest, ["2.0"]],
      ]),
    );
    expect(manifests).toHaveLength(2);
    const image = manifests.find((m) => m.digest === amd64.manifestDigest);
    expect(image).toMatchObject({ architecture: "amd64", os: "linux" });
    expect(image?.locks).toBeUndefined();
    expect(image?.createdAt).toBeInstanceOf(Date);
    expect(
      manifests.find((m) => m.digest === index.manifestDigest)?.children.map((c) => c.platform?.architecture),
    ).toEqual(["amd64", "arm64"]);
  });

  it("refuses time ordering instead of pretending", () => {
    expect(() => registry.listManifests("apps/hello", { order: "newest-first" })).toThrow(
      UnsupportedOperationError,
    );
  });

  it("inspects an index and an image; what only ACR knows stays unknown", async () => {
    const multi = await registry.inspect(parseImageReference("apps/hello:2.0"));
    expect(multi.digest).toBe(index.manifestDigest);
    expect(multi.platforms.map((p) => p.architecture)).toEqual(["amd64", "arm64"]);
    const image = await registry.inspect(parseImageReference("apps/hello:1.0"));
    expect(image).toMatchObject({
      architecture: "amd64",
      os: "linux",
      createdFrom: "image-config",
      tagsKnown: false,
    });
    expect(image.locks).toBeUndefined();
    expect(await registry.exists(parseImageReference("apps/hello:1.0"))).toBe(true);
    expect(await registry.exists(parseImageReference("apps/hello:9.9"))).toBe(false);
    await expect(
      registry.setLocks(parseImageReference("apps/hello:1.0"), { deleteEnabled: false }),
    ).rejects.toThrow(/not an Azure Container Registry/);
  });

  it("copies a multi-platform index from the emulator, streamed across registries, keeping the digest", async () => {
    const emulator: TestEmulator = await startTestEmulator({ seed: { kind: "demo" } });
    try {
      const source = await openRegistry({
        registry: emulator.loginServer,
        credentials: { kind: "token", credential: emulator.credential },
        allowList: [emulator.loginServer],
        caCertPem: emulator.emulator.caCert,
        audit,
      });
      const original = await source.inspect(parseImageReference("team/web:latest"));
      const result = await copyImage({
        source,
        target: registry,
        sourceReference: parseImageReference("team/web:latest"),
        targetReference: parseImageReference("mirror/web", { requireTagOrDigest: false }),
        audit,
        actor: "test",
      });
      expect(result).toMatchObject({ digest: original.digest, manifests: 3, blobsMounted: 0 });
      expect(result.blobsUploaded).toBeGreaterThan(0);
      const copied = await registry.inspect(parseImageReference("mirror/web:latest"));
      expect(copied.digest).toBe(original.digest);
      for (const platform of copied.platforms) {
        expect(await registry.exists({ repository: "mirror/web", digest: platform.digest })).toBe(true);
      }
    } finally {
      await emulator.close();
    }
  });

  it("copies cosign tag-scheme signatures with --referrers, and says the registry has no referrers API", async () => {
    // A repository of its own (the listings of apps/hello are checked elsewhere): 1.0 and the 2.0 index.
    const base = { source: registry, target: registry, audit, actor: "test" };
    for (const tag of ["1.0", "2.0"])
      await copyImage({
        ...base,
        sourceReference: parseImageReference(`apps/hello:${tag}`),
        targetReference: parseImageReference(`signed/hello:${tag}`),
      });
    // A cosign-style signature tag on 1.0 (amd64), holding another manifest of the repository.
    const amd64Digest = (await registry.inspect(parseImageReference("signed/hello:1.0"))).digest;
    const signatureTag = `sha256-${amd64Digest.slice("sha256:".length)}.sig`;
    const arm64Digest = (await registry.inspect(parseImageReference("signed/hello:2.0"))).platforms.find(
      (platform) => platform.architecture === "arm64",
    )?.digest;
    if (arm64Digest === undefined) throw new Error("the 2.0 index has an arm64 child");
    await registry.putManifest(
      "signed/hello",
      signatureTag,
      await registry.getManifest("signed/hello", arm64Digest),
    );

    const plain = await copyImage({
      ...base,
      sourceReference: parseImageReference("signed/hello:1.0"),
      targetReference: parseImageReference("mirror/plain:1.0"),
    });
    expect(plain).toMatchObject({ manifests: 1, referrers: 0, notes: [] });
    expect(await registry.exists(parseImageReference(`mirror/plain:${signatureTag}`))).toBe(false);

    const result = await copyImage({
      ...base,
      sourceReference: parseImageReference("signed/hello:1.0"),
      targetReference: parseImageReference("mirror/signed:1.0"),
      withReferrers: true,
    });
    expect(result).toMatchObject({ digest: amd64Digest, manifests: 2, referrers: 1 });
    expect(result.notes).toEqual([expect.stringMatching(/does not offer the OCI referrers API/)]);
    const copiedSignature = await registry.inspect(parseImageReference(`mirror/signed:${signatureTag}`));
    expect(copiedSignature.digest).toBe(arm64Digest);
  });

  it("deletes by digest (twice is fine) and says when a tag cannot be removed on its own", async () => {
    await expect(registry.untag("tools/one", "1")).rejects.toBeInstanceOf(UnsupportedOperationError);
    const digest = (await registry.inspect(parseImageReference("tools/one:1"))).digest;
    await registry.deleteManifest("tools/one", digest);
    await registry.deleteManifest("tools/one", digest);
    expect(await registry.exists({ repository: "tools/one", digest })).toBe(false);
  });

  it("serves the same CLI: ls shows unknown locks as n/a and says only tagged manifests are listed", async () => {
    const caFile = `${work.dir}/reference-ca.pem`;
    await writeFile(caFile, caCertPem);
    const { code, stdout, stderr } = await runCli(
      "ls",
      "apps/hello",
      "--registry",
      reference.host,
      "--ca-cert",
      caFile,
      "--anonymous",
    );
    expect(code).toBe(0);
    const rows = stdout.trimEnd().split("\n").slice(1);
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.endsWith("n/a"))).toBe(true);
    expect(rows.find((row) => row.includes("1.0,stable"))).toMatch(/image\s+linux\/amd64/);
    expect(stderr).toMatch(/only manifests reachable from tags are listed/);
  });
});
