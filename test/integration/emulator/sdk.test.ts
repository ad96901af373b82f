import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ContainerRegistryClient,
  ContainerRegistryContentClient,
  KnownManifestMediaType,
} from "@azure/container-registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO } from "../../../emulator/index.js";
import { bearerFor, fetchEmulator, startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";

/**
 * Every call listed in shared/fixtures/acr-sdk-wire/README.md, through the real
 * @azure/container-registry 1.1.2 clients over HTTPS, with a token credential and anonymously; and the
 * /acr/v1 bodies compared in shape with the swagger examples.
 */

const EXAMPLES = join(import.meta.dirname, "../../../../shared/fixtures/acr-rest-spec/examples");

function example(name: string): unknown {
  const parsed = JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), "utf8")) as {
    responses: Record<string, { body?: unknown }>;
  };
  return parsed.responses["200"]?.body;
}

/** Fields our bodies carry beyond the examples (all defined in the swagger or seen on real ACR). */
const EXTRA_KEYS = new Set(["mediaType", "configMediaType", "references", "signed"]);

/** Asserts `actual` has every key of `expected` with the same JSON type, recursively (array items against the first example item). */
function expectSameShape(actual: unknown, expected: unknown, path = "$"): void {
  const kind = (v: unknown) => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);
  expect(kind(actual), path).toBe(kind(expected));
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length > 0) {
      // Top-level listings must have items to compare; nested arrays (tags of an untagged manifest) may be empty.
      if (path.split(".").length === 2) expect(actual.length, `${path} is empty`).toBeGreaterThan(0);
      for (const item of actual) expectSameShape(item, expected[0], `${path}[]`);
    }
    return;
  }
  if (kind(expected) === "object") {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    for (const key of Object.keys(e)) expectSameShape(a[key], e[key], `${path}.${key}`);
    for (const key of Object.keys(a)) {
      if (!(key in e)) expect(EXTRA_KEYS.has(key), `unexpected key ${path}.${key}`).toBe(true);
    }
  }
}

describe("emulator with the real @azure/container-registry SDK", () => {
  let env: TestEmulator;
  let client: ContainerRegistryClient;

  beforeAll(async () => {
    env = await startTestEmulator({ seed: { kind: "demo" }, anonymousPull: true });
    client = new ContainerRegistryClient(env.url, env.credential, env.clientOptions);
  });
  afterAll(async () => {
    await env?.close();
  });

  it("lists repository names, all at once and by pages of 2 following Link", async () => {
    const names: string[] = [];
    for await (const name of client.listRepositoryNames()) names.push(name);
    expect(names).toEqual([...DEMO.repositories].sort());

    const pages: string[][] = [];
    for await (const page of client.listRepositoryNames().byPage({ maxPageSize: 2 })) pages.push([...page]);
    expect(pages).toEqual([["team/api", "team/web"], ["tools/base"]]);
  });

  it("reads and updates repository properties", async () => {
    const repo = client.getRepository("team/web");
    const props = await repo.getProperties();
    expect(props.name).toBe("team/web");
    expect(props.manifestCount).toBe(8);
    expect(props.tagCount).toBe(5);
    const updated = await repo.updateProperties({ canList: true, canDelete: true });
    expect(updated.canDelete).toBe(true);
  });

  it("lists manifest properties newest first, across pages, with platforms and index references", async () => {
    const repo = client.getRepository("team/web");
    const all = [];
    for await (const page of repo
      .listManifestProperties({ order: "LastUpdatedOnDescending" })
      .byPage({ maxPageSize: 3 })) {
      all.push(...page);
    }
    expect(all).toHaveLength(8);
    const times = all.map((m) => m.lastUpdatedOn.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const index = all.find((m) => m.tags.includes("latest"));
    expect(index?.relatedArtifacts.map((r) => r.architecture).sort()).toEqual(["amd64", "arm64"]);
    const oldest = all[all.length - 1];
    expect(oldest?.tags).toEqual(["1.0.0"]);
    expect(oldest?.architecture).toBe("amd64");
    expect(oldest?.operatingSystem).toBe("linux");
    expect(all.filter((m) => m.tags.length === 0).length).toBeGreaterThanOrEqual(2);
  });

  it("runs the artifact calls: properties, tags, updates, locked and unlocked tag delete, delete", async () => {
    const content = new ContainerRegistryContentClient(
      env.url,
      "team/delta",
      env.credential,
      env.clientOptions,
    );
    const layer = await content.uploadBlob(Buffer.from("delta layer"));
    const config = await content.uploadBlob(
      Buffer.from(JSON.stringify({ architecture: "arm64", os: "linux" })),
    );
    await content.setManifest(
      {
        schemaVersion: 2,
        mediaType: KnownManifestMediaType.OciImageManifest,
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: config.digest,
          size: config.sizeInBytes,
        },
        layers: [
          {
            mediaType: "application/vnd.oci.image.layer.v1.tar",
            digest: layer.digest,
            size: layer.sizeInBytes,
          },
        ],
      },
      { tag: "v1" },
    );

    const artifact = client.getArtifact("team/delta", "v1");
    const props = await artifact.getManifestProperties();
    expect(props.architecture).toBe("arm64");
    expect(props.tags).toEqual(["v1"]);

    const tags = [];
    for await (const tag of artifact.listTagProperties({ order: "LastUpdatedOnAscending" }))
      tags.push(tag.name);
    expect(tags).toEqual(["v1"]);

    expect((await artifact.updateManifestProperties({ canWrite: false })).canWrite).toBe(false);
    expect((await artifact.updateTagProperties("v1", { canDelete: false })).canDelete).toBe(false);
    expect((await artifact.getTagProperties("v1")).canDelete).toBe(false);

    await expect(artifact.deleteTag("v1")).rejects.toMatchObject({ statusCode: 405 });
    await artifact.updateTagProperties("v1", { canDelete: true });
    await artifact.deleteTag("v1");
    await expect(artifact.getTagProperties("v1")).rejects.toMatchObject({ statusCode: 404 });

    const byDigest = client.getArtifact("team/delta", props.digest);
    await byDigest.delete();
    await expect(byDigest.getManifestProperties()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("refuses to delete the demo's locked manifest and deletes a whole repository", async () => {
    const locked = client.getArtifact(DEMO.locked.repository, DEMO.locked.tag);
    expect((await locked.getManifestProperties()).canDelete).toBe(false);
    await expect(locked.delete()).rejects.toMatchObject({ statusCode: 405 });

    await client.deleteRepository("tools/base");
    const names: string[] = [];
    for await (const name of client.listRepositoryNames()) names.push(name);
    expect(names).not.toContain("tools/base");
    // 404 is success for the SDK's deletes.
    await client.deleteRepository("tools/base");
  });

  it("pushes, pulls and deletes content with ContainerRegistryContentClient", async () => {
    const content = new ContainerRegistryContentClient(
      env.url,
      "team/content",
      env.credential,
      env.clientOptions,
    );
    const big = Buffer.alloc(9 * 1024 * 1024, 7); // three 4 MiB chunks
    const layer = await content.uploadBlob(big);
    const config = await content.uploadBlob(Buffer.from("{}"));
    const set = await content.setManifest(
      {
        schemaVersion: 2,
        mediaType: KnownManifestMediaType.OciImageManifest,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: 2 },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layer.digest, size: big.length },
        ],
      },
      { tag: "v2" },
    );
    const got = await content.getManifest("v2");
    expect(got.digest).toBe(set.digest);
    expect(got.mediaType).toBe(KnownManifestMediaType.OciImageManifest);

    const download = await content.downloadBlob(layer.digest);
    const chunks: Buffer[] = [];
    for await (const chunk of download.content) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);

    await content.deleteBlob(layer.digest);
    await expect(content.downloadBlob(layer.digest)).rejects.toMatchObject({ statusCode: 404 });
    await content.deleteManifest(set.digest);
    await expect(content.getManifest(set.digest)).rejects.toMatchObject({ statusCode: 404 });
  });

  it("lists repositories anonymously when anonymous pull is on", async () => {
    const anonymous = new ContainerRegistryClient(env.url, env.clientOptions);
    const names: string[] = [];
    for await (const name of anonymous.listRepositoryNames()) names.push(name);
    expect(names).toContain("team/web");
    // Anonymous tokens never carry delete.
    await expect(anonymous.deleteRepository("team/web")).rejects.toMatchObject({ statusCode: 401 });
  });

  it("answers /acr/v1 with the swagger examples' shapes", async () => {
    const e = env.emulator;
    const read = bearerFor(e, "repository:team/web:metadata_read", "registry:catalog:*");
    const write = bearerFor(e, "repository:team/web:metadata_write");
    const get = async (path: string, headers = read) =>
      (await fetchEmulator(e, "GET", path, { headers })).json();
    expectSameShape(await get("/acr/v1/_catalog"), example("GetRepositoryList"));
    expectSameShape(await get("/acr/v1/team%2Fweb"), example("GetRepositoryAttributes"));
    expectSameShape(await get("/acr/v1/team%2Fweb/_tags"), example("GetTagList"));
    expectSameShape(await get("/acr/v1/team%2Fweb/_tags/1.2.3"), example("GetTagAttributes"));
    const listing = (await get("/acr/v1/team/web/_manifests?orderby=timeasc")) as {
      manifests: { references?: unknown }[];
    };
    // Indexes have no platform of their own (architecture/os are nullable); they carry references instead.
    const images = { ...listing, manifests: listing.manifests.filter((m) => m.references === undefined) };
    expect(listing.manifests.some((m) => Array.isArray(m.references))).toBe(true);
    expectSameShape(images, example("GetManifestList"));
    const digest = (e.store.resolve("team/web", "1.2.3")?.digest ?? "").replace(":", "%3A");
    expectSameShape(await get(`/acr/v1/team%2Fweb/_manifests/${digest}`), example("GetManifestAttributes"));
    const patch = async (path: string) =>
      (
        await fetchEmulator(e, "PATCH", path, {
          headers: { ...write, "Content-Type": "application/json" },
          body: JSON.stringify({ writeEnabled: false }),
        })
      ).json();
    expectSameShape(
      await patch(`/acr/v1/team%2Fweb/_manifests/${digest}`),
      example("UpdateManifestAttributes"),
    );
    expectSameShape(await patch("/acr/v1/team%2Fweb/_tags/1.2.3"), example("UpdateTagAttributes"));
    expectSameShape(await patch("/acr/v1/team%2Fweb"), example("UpdateRepositoryAttributes"));
  });
});
