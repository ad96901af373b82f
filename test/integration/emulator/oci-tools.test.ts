import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEmulator } from "../../helpers/emulator.js";
import {
  addImageIndex,
  buildImage,
  dockerReference,
  makeCertDir,
  makeWorkDir,
  type OciLayoutImage,
  type RegistryAccess,
  readLayoutImage,
  sha256Digest,
  skopeoCopy,
  skopeoDelete,
  skopeoInspect,
  skopeoInspectRaw,
  skopeoListTags,
  ToolError,
} from "../../helpers/ociTools.js";
import { startReferenceRegistry } from "../../helpers/referenceRegistry.js";
import { makeTestCertificates } from "../../helpers/testCertificates.js";

/**
 * Real OCI tools against a registry: skopeo pushes a umoci-built image over HTTPS (trusting the
 * registry's CA through --cert-dir, with --creds where the registry wants them), reads it back,
 * lists tags, copies it out again and deletes it. The same scenario runs against Debian's
 * docker-registry (the reference) and against our emulator.
 */

interface Target {
  readonly access: RegistryAccess;
  stop(): Promise<void>;
}

const work = await makeWorkDir("acr-steward-oci-tools-");
afterAll(() => work.dispose());

/** Built once, pushed to every target. */
let amd64: OciLayoutImage;
let arm64: OciLayoutImage;
let index: OciLayoutImage;
let second: OciLayoutImage;

beforeAll(async () => {
  const layout = `${work.dir}/layout`;
  amd64 = await buildImage({ layout, tag: "v1", files: { "/hello.txt": "hello from amd64\n" } });
  second = await buildImage({ layout, tag: "v2", files: { "/hello.txt": "second image\n" } });
  arm64 = await buildImage({
    layout,
    tag: "v1-arm64",
    files: { "/hello.txt": "hello from arm64\n" },
    architecture: "arm64",
  });
  index = await addImageIndex(layout, "multi", [
    { image: amd64, architecture: "amd64", os: "linux" },
    { image: arm64, architecture: "arm64", os: "linux" },
  ]);
});

function describeOciTools(name: string, start: () => Promise<Target>): void {
  describe(`skopeo and umoci against ${name}`, () => {
    let target: Target;
    const repository = "team/app";
    const ref = (tagOrDigest: string) =>
      dockerReference(
        target.access,
        `${repository}${tagOrDigest.startsWith("sha256:") ? "@" : ":"}${tagOrDigest}`,
      );

    beforeAll(async () => {
      target = await start();
    });
    afterAll(async () => {
      await target?.stop();
    });

    it("pushes a umoci image with skopeo copy and reads back the same digest and bytes", async () => {
      await skopeoCopy(amd64.reference, ref("v1"), { dest: target.access });
      const inspection = await skopeoInspect(ref("v1"), target.access);
      expect(inspection.Digest).toBe(amd64.manifestDigest);
      expect(inspection.Architecture).toBe("amd64");
      expect(inspection.Os).toBe("linux");
      expect(inspection.RepoTags).toContain("v1");
      const raw = await skopeoInspectRaw(ref("v1"), target.access);
      expect(sha256Digest(raw)).toBe(amd64.manifestDigest);
      expect(raw.equals(amd64.manifestBytes)).toBe(true);
      expect((await skopeoInspect(ref(amd64.manifestDigest), target.access)).Digest).toBe(
        amd64.manifestDigest,
      );
    });

    it("lists the tags of the repository", async () => {
      await skopeoCopy(second.reference, ref("v2"), { dest: target.access });
      const tags = await skopeoListTags(dockerReference(target.access, repository), target.access);
      expect(tags.sort()).toEqual(["v1", "v2"]);
    });

    it("copies the image back out to an OCI layout with the identical manifest digest", async () => {
      const out = `${work.dir}/out-${name.replace(/\W+/g, "-")}`;
      await skopeoCopy(ref("v1"), `oci:${out}:copied`, { src: target.access });
      const copied = await readLayoutImage(out, "copied");
      expect(copied.manifestDigest).toBe(amd64.manifestDigest);
      expect(copied.manifestBytes.equals(amd64.manifestBytes)).toBe(true);
    });

    it("pushes a multi-platform OCI index with its children (skopeo copy --all)", async () => {
      await skopeoCopy(index.reference, ref("multi"), { dest: target.access, all: true });
      const raw = await skopeoInspectRaw(ref("multi"), target.access);
      expect(sha256Digest(raw)).toBe(index.manifestDigest);
      expect(JSON.parse(raw.toString("utf8"))).toMatchObject({
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{ digest: amd64.manifestDigest }, { digest: arm64.manifestDigest }],
      });
      const child = await skopeoInspectRaw(ref(arm64.manifestDigest), target.access);
      expect(child.equals(arm64.manifestBytes)).toBe(true);
    });

    it("takes a Docker v2 schema 2 manifest (skopeo --format v2s2) and serves it with its media type", async () => {
      await skopeoCopy(amd64.reference, ref("docker"), { dest: target.access, format: "v2s2" });
      const raw = await skopeoInspectRaw(ref("docker"), target.access);
      const manifest = JSON.parse(raw.toString("utf8")) as {
        mediaType?: string;
        config?: { mediaType?: string };
      };
      expect(manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
      expect(manifest.config?.mediaType).toBe("application/vnd.docker.container.image.v1+json");
      const inspection = await skopeoInspect(ref("docker"), target.access);
      expect(inspection.Digest).toBe(sha256Digest(raw));
      expect(inspection.Architecture).toBe("amd64");
    });

    it("deletes with skopeo delete, after which inspect fails with manifest unknown", async () => {
      await skopeoDelete(ref("v2"), target.access);
      const failure = await skopeoInspect(ref("v2"), target.access).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(ToolError);
      expect((failure as ToolError).stderr).toMatch(/manifest unknown/);
      // The other tags survive.
      expect((await skopeoInspect(ref("v1"), target.access)).Digest).toBe(amd64.manifestDigest);
    });
  });
}

describeOciTools("docker-registry (reference, HTTPS)", async () => {
  const certificates = makeTestCertificates();
  const registry = await startReferenceRegistry({
    tls: { certPem: certificates.certPem, keyPem: certificates.keyPem },
  });
  const certDir = await makeCertDir(certificates.caCertPem, `${work.dir}/reference`);
  return { access: { host: registry.host, certDir }, stop: () => registry.stop() };
});

describeOciTools("the emulator (HTTPS, Basic credentials)", async () => {
  const credentials = { username: "skopeo-user", password: "skopeo-secret" };
  const env = await startTestEmulator(credentials);
  const certDir = await makeCertDir(env.emulator.caCert, `${work.dir}/emulator`);
  return { access: { host: env.loginServer, certDir, credentials }, stop: () => env.close() };
});

describe("skopeo authentication against the emulator", () => {
  const credentials = { username: "auth-user", password: "auth-secret" };
  let env: Awaited<ReturnType<typeof startTestEmulator>>;
  let certDir: string;
  beforeAll(async () => {
    env = await startTestEmulator(credentials);
    certDir = await makeCertDir(env.emulator.caCert, `${work.dir}/emulator-auth`);
    await skopeoCopy(amd64.reference, `docker://${env.loginServer}/team/locked:v1`, {
      dest: { host: env.loginServer, certDir, credentials },
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  it("refuses anonymous and wrong-password pulls, as ACR does without --anonymous-pull", async () => {
    const reference = `docker://${env.loginServer}/team/locked:v1`;
    for (const access of [
      { host: env.loginServer, certDir },
      { host: env.loginServer, certDir, credentials: { username: credentials.username, password: "wrong" } },
    ]) {
      const failure = await skopeoInspect(reference, access).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(ToolError);
      expect((failure as ToolError).stderr).toMatch(/unauthorized|authentication required|401/i);
      // The password never shows up in what we report.
      expect((failure as ToolError).message).not.toContain(credentials.password);
    }
    expect((await skopeoInspect(reference, { host: env.loginServer, certDir, credentials })).Digest).toBe(
      amd64.manifestDigest,
    );
  });

  it("does not trust the emulator with another CA", async () => {
    const otherCa = makeTestCertificates("another CA").caCertPem;
    const failure = await skopeoInspect(`docker://${env.loginServer}/team/locked:v1`, {
      host: env.loginServer,
      certDir: await makeCertDir(otherCa, `${work.dir}/other-ca`),
      credentials,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ToolError);
    expect((failure as ToolError).stderr).toMatch(/certificate signed by unknown authority/i);
  });
});

describe("missing tools", () => {
  it("fail with a message that says how to install them", async () => {
    await expect(startReferenceRegistry({ binary: "docker-registry-not-installed" })).rejects.toThrow(
      /run scripts\/setup\.sh/,
    );
  });
});
