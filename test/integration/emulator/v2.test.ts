import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManifestNotification } from "../../../emulator/notifications.js";
import { bearerFor, fetchEmulator, startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";

/** The OCI distribution API over raw HTTPS: uploads, ranges, mounts, manifests, referrers, paging, errors. */

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function errorCode(body: unknown): string | undefined {
  return (body as { errors?: { code?: string }[] }).errors?.[0]?.code;
}

describe("emulator /v2 API", () => {
  let env: TestEmulator;
  const notifications: ManifestNotification[] = [];
  const call = (
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Buffer | string } = {},
  ) => fetchEmulator(env.emulator, method, path, init);
  const push = (name: string) => bearerFor(env.emulator, `repository:${name}:pull,push,delete`);

  async function uploadMonolithic(name: string, data: Buffer | string): Promise<string> {
    const digest = sha256(data);
    const res = await call("POST", `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      headers: { ...push(name), "Content-Type": "application/octet-stream" },
      body: data,
    });
    expect(res.status).toBe(201);
    return digest;
  }

  async function pushImage(name: string, tag: string, extra: Record<string, unknown> = {}) {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", tag }));
    const layer = Buffer.from(`layer of ${name}:${tag}`);
    const configDigest = await uploadMonolithic(name, config);
    const layerDigest = await uploadMonolithic(name, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: configDigest,
          size: config.length,
        },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length },
        ],
        ...extra,
      }),
    );
    const res = await call("PUT", `/v2/${name}/manifests/${tag}`, {
      headers: { ...push(name), "Content-Type": OCI_MANIFEST },
      body: manifest,
    });
    expect(res.status, res.text()).toBe(201);
    return { digest: sha256(manifest), size: manifest.length, bytes: manifest, layerDigest, configDigest };
  }

  beforeAll(async () => {
    env = await startTestEmulator();
    env.emulator.notifications.on("manifest", (n) => notifications.push(n));
  });
  afterAll(async () => {
    await env?.close();
  });

  it("challenges GET /v2/ without a token and answers 200 with one", async () => {
    const res = await call("GET", "/v2/");
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe(
      `Bearer realm="https://${env.loginServer}/oauth2/token",service="${env.loginServer}"`,
    );
    expect(res.headers["docker-distribution-api-version"]).toBe("registry/2.0");
    expect(errorCode(res.json())).toBe("UNAUTHORIZED");
    const ok = await call("GET", "/v2/", { headers: bearerFor(env.emulator) });
    expect(ok.status).toBe(200);
  });

  it("pushes by tag, pulls by tag and digest with negotiation, and announces the push", async () => {
    const image = await pushImage("team/alpha", "v1");
    const pull = bearerFor(env.emulator, "repository:team/alpha:pull");
    const byTag = await call("GET", "/v2/team%2Falpha/manifests/v1", {
      headers: { ...pull, Accept: OCI_MANIFEST },
    });
    expect(byTag.status).toBe(200);
    expect(byTag.headers["content-type"]).toBe(OCI_MANIFEST);
    expect(byTag.headers["docker-content-digest"]).toBe(image.digest);
    expect(byTag.body.equals(image.bytes)).toBe(true);
    const head = await call("HEAD", `/v2/team/alpha/manifests/${image.digest}`, { headers: pull });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(image.size));
    expect(head.body.length).toBe(0);
    const notAccepted = await call("GET", "/v2/team/alpha/manifests/v1", {
      headers: { ...pull, Accept: "application/vnd.docker.distribution.manifest.list.v2+json" },
    });
    expect(notAccepted.status).toBe(404);
    expect(errorCode(notAccepted.json())).toBe("MANIFEST_UNKNOWN");
    const pushed = notifications.find((n) => n.digest === image.digest);
    expect(pushed).toMatchObject({
      action: "push",
      repository: "team/alpha",
      tag: "v1",
      mediaType: OCI_MANIFEST,
    });
    expect(pushed?.size).toBe(image.size);
  });

  it("verifies manifests: digest in the URL, JSON, media type, referenced blobs and children", async () => {
    const name = "team/bravo";
    const headers = { ...push(name), "Content-Type": OCI_MANIFEST };
    const image = await pushImage(name, "base");
    const wrongDigest = await call("PUT", `/v2/${name}/manifests/${sha256("other")}`, {
      headers,
      body: image.bytes,
    });
    expect(wrongDigest.status).toBe(400);
    expect(errorCode(wrongDigest.json())).toBe("DIGEST_INVALID");
    const byDigest = await call("PUT", `/v2/${name}/manifests/${image.digest}`, {
      headers,
      body: image.bytes,
    });
    expect(byDigest.status).toBe(201);
    expect(byDigest.headers.location).toBe(`/v2/${name}/manifests/${image.digest}`);
    const notJson = await call("PUT", `/v2/${name}/manifests/x`, { headers, body: "{not json" });
    expect(errorCode(notJson.json())).toBe("MANIFEST_INVALID");
    const mismatch = await call("PUT", `/v2/${name}/manifests/x`, {
      headers: { ...headers, "Content-Type": OCI_INDEX },
      body: image.bytes,
    });
    expect(errorCode(mismatch.json())).toBe("MANIFEST_INVALID");
    const missingBlob = JSON.parse(image.bytes.toString()) as { layers: { digest: string }[] };
    missingBlob.layers[0] = { ...missingBlob.layers[0], digest: sha256("absent") };
    const res = await call("PUT", `/v2/${name}/manifests/x`, { headers, body: JSON.stringify(missingBlob) });
    expect(res.status).toBe(400);
    expect(errorCode(res.json())).toBe("MANIFEST_BLOB_UNKNOWN");
    const orphanIndex = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256("nope"), size: 2 }],
    };
    const idx = await call("PUT", `/v2/${name}/manifests/multi`, {
      headers: { ...headers, "Content-Type": OCI_INDEX },
      body: JSON.stringify(orphanIndex),
    });
    expect(errorCode(idx.json())).toBe("MANIFEST_BLOB_UNKNOWN");
    const okIndex = {
      ...orphanIndex,
      manifests: [
        {
          ...orphanIndex.manifests[0],
          digest: image.digest,
          size: image.size,
          platform: { architecture: "amd64", os: "linux" },
        },
      ],
    };
    const put = await call("PUT", `/v2/${name}/manifests/multi`, {
      headers: { ...headers, "Content-Type": OCI_INDEX },
      body: JSON.stringify(okIndex),
    });
    expect(put.status).toBe(201);
  });

  it("uploads in chunks with Content-Range, reports status, rejects out-of-order chunks and bad digests", async () => {
    const name = "team/charlie";
    const headers = push(name);
    const start = await call("POST", `/v2/${name}/blobs/uploads/`, { headers });
    expect(start.status).toBe(202);
    expect(start.headers.range).toBe("0-0");
    const location = start.headers.location as string;
    expect(location).toMatch(new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]+$`));
    const first = await call("PATCH", location, {
      headers: { ...headers, "Content-Type": "application/octet-stream", "Content-Range": "0-4" },
      body: "hello",
    });
    expect(first.status).toBe(202);
    expect(first.headers.range).toBe("0-4");
    const outOfOrder = await call("PATCH", location, {
      headers: { ...headers, "Content-Range": "10-12" },
      body: "abc",
    });
    expect(outOfOrder.status).toBe(416);
    const status = await call("GET", location, { headers });
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe("0-4");
    await call("PATCH", location, { headers: { ...headers, "Content-Range": "5-10" }, body: " world" });
    const wrong = await call("PUT", `${location}?digest=${sha256("something else")}`, { headers });
    expect(wrong.status).toBe(400);
    expect(errorCode(wrong.json())).toBe("DIGEST_INVALID");

    const again = await call("POST", `/v2/${name}/blobs/uploads/`, { headers });
    const loc2 = again.headers.location as string;
    await call("PATCH", loc2, { headers, body: "hello" });
    const done = await call("PUT", `${loc2}?digest=${sha256("hello world")}`, { headers, body: " world" });
    expect(done.status).toBe(201);
    expect(done.headers["docker-content-digest"]).toBe(sha256("hello world"));
    expect(done.headers.location).toBe(`/v2/${name}/blobs/${sha256("hello world")}`);

    const cancel = await call("POST", `/v2/${name}/blobs/uploads/`, { headers });
    const loc3 = cancel.headers.location as string;
    expect((await call("DELETE", loc3, { headers })).status).toBe(204);
    const gone = await call("GET", loc3, { headers });
    expect(gone.status).toBe(404);
    expect(errorCode(gone.json())).toBe("BLOB_UPLOAD_UNKNOWN");
  });

  it("serves blobs with HEAD, ranges (206, 416, the SDK's bare 'n-') and deletes them", async () => {
    const name = "team/delta";
    const data = Buffer.from("0123456789");
    const digest = await uploadMonolithic(name, data);
    const pull = push(name);
    const head = await call("HEAD", `/v2/${name}/blobs/${digest}`, { headers: pull });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("10");
    expect(head.headers["docker-content-digest"]).toBe(digest);
    const part = await call("GET", `/v2/${name}/blobs/${digest.replace(":", "%3A")}`, {
      headers: { ...pull, Range: "bytes=2-5" },
    });
    expect(part.status).toBe(206);
    expect(part.text()).toBe("2345");
    expect(part.headers["content-range"]).toBe("bytes 2-5/10");
    const resume = await call("GET", `/v2/${name}/blobs/${digest}`, { headers: { ...pull, Range: "7-" } });
    expect(resume.status).toBe(206);
    expect(resume.text()).toBe("789");
    for (const bad of ["bytes=20-30", "bytes=5-2", "bytes=abc"]) {
      const res = await call("GET", `/v2/${name}/blobs/${digest}`, { headers: { ...pull, Range: bad } });
      expect(res.status, bad).toBe(416);
    }
    expect((await call("DELETE", `/v2/${name}/blobs/${digest}`, { headers: pull })).status).toBe(202);
    const missing = await call("GET", `/v2/${name}/blobs/${digest}`, { headers: pull });
    expect(missing.status).toBe(404);
    expect(errorCode(missing.json())).toBe("BLOB_UNKNOWN");
  });

  it("mounts blobs across repositories, or opens a session when the blob is absent", async () => {
    const digest = await uploadMonolithic("team/source", "shared bytes");
    const headers = bearerFor(
      env.emulator,
      "repository:team/target:pull,push",
      "repository:team/source:pull",
    );
    const mounted = await call("POST", `/v2/team/target/blobs/uploads/?mount=${digest}&from=team/source`, {
      headers,
    });
    expect(mounted.status).toBe(201);
    expect(mounted.headers.location).toBe(`/v2/team/target/blobs/${digest}`);
    const absent = await call(
      "POST",
      `/v2/team/target/blobs/uploads/?mount=${sha256("none")}&from=team/source`,
      {
        headers,
      },
    );
    expect(absent.status).toBe(202);
    expect(absent.headers["docker-upload-uuid"]).toBeTruthy();
  });

  it("serves referrers with OCI-Subject on push and the artifactType filter", async () => {
    const name = "team/echo";
    const subject = await pushImage(name, "app");
    const empty = await uploadMonolithic(name, "{}");
    const sig = await uploadMonolithic(name, "signature");
    const referrer = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/vnd.example.signature",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
      layers: [{ mediaType: "application/octet-stream", digest: sig, size: 9 }],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
    });
    const put = await call("PUT", `/v2/${name}/manifests/${sha256(referrer)}`, {
      headers: { ...push(name), "Content-Type": OCI_MANIFEST },
      body: referrer,
    });
    expect(put.status).toBe(201);
    expect(put.headers["oci-subject"]).toBe(subject.digest);
    const pull = bearerFor(env.emulator, `repository:${name}:pull`);
    const all = await call("GET", `/v2/${name}/referrers/${subject.digest}`, { headers: pull });
    expect(all.status).toBe(200);
    expect(all.headers["content-type"]).toBe(OCI_INDEX);
    const index = all.json() as { manifests: { digest: string; artifactType: string }[] };
    expect(index.manifests).toEqual([
      expect.objectContaining({
        digest: sha256(referrer),
        artifactType: "application/vnd.example.signature",
      }),
    ]);
    const filtered = await call(
      "GET",
      `/v2/${name}/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`,
      {
        headers: pull,
      },
    );
    expect(filtered.headers["oci-filters-applied"]).toBe("artifactType");
    expect((filtered.json() as { manifests: unknown[] }).manifests).toEqual([]);
  });

  it("lists tags and the catalog with n/last and Link", async () => {
    const name = "team/foxtrot";
    for (const tag of ["a", "b", "c"]) await pushImage(name, tag);
    const pull = bearerFor(env.emulator, `repository:${name}:pull`);
    const first = await call("GET", `/v2/${name}/tags/list?n=2`, { headers: pull });
    expect(first.json()).toEqual({ name, tags: ["a", "b"] });
    expect(first.headers.link).toBe(`</v2/${name}/tags/list?last=b&n=2>; rel="next"`);
    const second = await call("GET", `/v2/${name}/tags/list?last=b&n=2`, { headers: pull });
    expect(second.json()).toEqual({ name, tags: ["c"] });
    expect(second.headers.link).toBeUndefined();
    const catalog = bearerFor(env.emulator, "registry:catalog:*");
    const page = await call("GET", "/v2/_catalog?n=1", { headers: catalog });
    expect((page.json() as { repositories: string[] }).repositories).toHaveLength(1);
    expect(page.headers.link).toMatch(/^<\/v2\/_catalog\?last=team\/[a-z]+&n=1>; rel="next"$/);
    const bad = await call("GET", "/v2/_catalog?n=-1", { headers: catalog });
    expect(bad.status).toBe(400);
    expect(errorCode(bad.json())).toBe("PAGINATION_NUMBER_INVALID");
  });

  it("deletes by tag (the tag only) and by digest (with its tags), and announces the delete", async () => {
    const name = "team/golf";
    const image = await pushImage(name, "one");
    const headers = push(name);
    await call("PUT", `/v2/${name}/manifests/two`, {
      headers: { ...headers, "Content-Type": OCI_MANIFEST },
      body: image.bytes,
    });
    expect((await call("DELETE", `/v2/${name}/manifests/one`, { headers })).status).toBe(202);
    expect((await call("GET", `/v2/${name}/manifests/two`, { headers })).status).toBe(200);
    expect((await call("DELETE", `/v2/${name}/manifests/${image.digest}`, { headers })).status).toBe(202);
    const gone = await call("GET", `/v2/${name}/manifests/two`, { headers });
    expect(gone.status).toBe(404);
    expect(notifications.filter((n) => n.digest === image.digest).map((n) => n.action)).toContain("delete");
  });

  it("rejects malformed names, digests, tags and paths with OCI error bodies", async () => {
    const any = bearerFor(env.emulator, "repository:team/alpha:pull");
    const cases: [string, string, number, string][] = [
      ["GET", "/v2/Team/App/manifests/v1", 400, "NAME_INVALID"],
      ["GET", "/v2/team/alpha/manifests/sha256:xyz", 400, "DIGEST_INVALID"],
      ["GET", "/v2/team/alpha/manifests/-bad-tag", 400, "TAG_INVALID"],
      ["GET", "/v2/team/alpha/blobs/notadigest", 400, "DIGEST_INVALID"],
      ["GET", "/v2/team%ZZ/manifests/v1", 400, "NAME_INVALID"],
      ["GET", "/v2/team/unknown/manifests/v1", 401, "UNAUTHORIZED"],
    ];
    for (const [method, path, status, code] of cases) {
      const res = await call(method, path, { headers: any });
      expect(res.status, path).toBe(status);
      expect(errorCode(res.json()), path).toBe(code);
    }
    const unknownRepo = await call("GET", "/v2/team/unknown/manifests/v1", {
      headers: bearerFor(env.emulator, "repository:team/unknown:pull"),
    });
    expect(unknownRepo.status).toBe(404);
    expect(errorCode(unknownRepo.json())).toBe("NAME_UNKNOWN");
  });
});
