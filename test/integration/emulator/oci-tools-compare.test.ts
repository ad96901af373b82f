import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEmulator } from "../../helpers/emulator.js";
import {
  RawRegistryClient as Client,
  type RawRegistryClient,
  type RawResponse,
} from "../../helpers/rawRegistryClient.js";
import { startReferenceRegistry, stopAllReferenceRegistries } from "../../helpers/referenceRegistry.js";

/**
 * The same raw /v2 request sequence against Debian's docker-registry (distribution 2.8, no auth)
 * and against our emulator (bearer token from its Basic-auth GET /oauth2/token), comparing the
 * status codes and the headers clients rely on. Where distribution 2.8 is known to differ from ACR
 * and the OCI spec, the step says so and asserts the ACR/spec behaviour for the emulator instead.
 */

// ---------------------------------------------------------------------------------------------
// Observations: what clients rely on, normalized so two registries can be compared.

interface Observation {
  status: number;
  /** Present headers among the ones the step watches; values normalized (see `normalize`). */
  headers: Record<string, string>;
  /** `errors[0].code` of a JSON error body. */
  errorCode?: string;
  /** sha256 of the body for successful content reads. */
  bodyDigest?: string;
  /** A summary of a JSON listing body. */
  body?: string;
}

type WatchedHeader =
  | "docker-distribution-api-version"
  | "docker-content-digest"
  | "docker-upload-uuid"
  | "location"
  | "content-type"
  | "content-length"
  | "content-range"
  | "range"
  | "link";

/** Headers whose value differs legitimately between registries: only their presence is compared. */
const PRESENCE_ONLY = new Set<WatchedHeader>(["location", "docker-upload-uuid"]);

function normalize(name: WatchedHeader, value: string): string {
  if (PRESENCE_ONLY.has(name)) return "(present)";
  if (name === "content-type") return (value.split(";")[0] ?? "").trim().toLowerCase();
  if (name === "link") {
    const target = /<([^>]*)>\s*;\s*rel="next"/.exec(value)?.[1];
    if (target === undefined) return `(unparsable) ${value}`;
    const url = new URL(target, "https://registry.invalid");
    const params = [...url.searchParams.entries()]
      .filter(([key]) => key === "n" || key === "last")
      .sort(([a], [b]) => a.localeCompare(b));
    return `${url.pathname}?${params.map(([key, v]) => `${key}=${v}`).join("&")}; rel="next"`;
  }
  return value;
}

function observe(response: RawResponse, watched: readonly WatchedHeader[], keepBody = false): Observation {
  const headers: Record<string, string> = {};
  for (const name of ["docker-distribution-api-version", ...watched] as WatchedHeader[]) {
    const value = response.headers[name];
    if (value !== undefined) headers[name] = normalize(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const observation: Observation = { status: response.status, headers };
  if (response.status >= 400 && response.body.length > 0) {
    try {
      const parsed = JSON.parse(response.body.toString("utf8")) as { errors?: { code?: string }[] };
      const code = parsed.errors?.[0]?.code;
      if (code !== undefined) observation.errorCode = code;
    } catch {
      observation.errorCode = "(not JSON)";
    }
  }
  if (keepBody) observation.bodyDigest = sha256(response.body);
  return observation;
}

function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function location(response: RawResponse): string {
  const value = response.headers.location;
  if (value === undefined) throw new Error(`no Location header (HTTP ${response.status})`);
  return value;
}

function withDigest(target: string, digest: string): string {
  return `${target}${target.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
}

// ---------------------------------------------------------------------------------------------
// Content: deterministic bytes, the same for every registry.

function bytesOf(label: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash("sha256").update(label).digest();
  for (let offset = 0; offset < length; offset += block.length) {
    block.copy(out, offset);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

const CONFIG = Buffer.from(
  JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
);
const LAYER = bytesOf("layer", 3000);
const SMALL = bytesOf("small", 200);
const MOUNTED = bytesOf("mounted", 500);
const NEVER_PUSHED = sha256("never pushed");

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function manifestFor(layers: readonly Buffer[], annotation: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha256(CONFIG),
        size: CONFIG.length,
      },
      layers: layers.map((layer) => ({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: sha256(layer),
        size: layer.length,
      })),
      annotations: { "org.example.step": annotation },
    }),
  );
}

const MANIFEST = manifestFor([LAYER], "by-tag");
const MANIFEST_BY_DIGEST = manifestFor([LAYER, SMALL], "by-digest");
const MANIFEST_MISSING_BLOB = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha256(CONFIG),
      size: CONFIG.length,
    },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: NEVER_PUSHED, size: 12 }],
  }),
);
const INDEX = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: sha256(MANIFEST),
        size: MANIFEST.length,
        platform: { architecture: "amd64", os: "linux" },
      },
    ],
  }),
);

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_V2 = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      digest: sha256(CONFIG),
      size: CONFIG.length,
    },
    layers: [
      {
        mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        digest: sha256(LAYER),
        size: LAYER.length,
      },
    ],
  }),
);
const DOCKER_MANIFEST_LIST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_LIST,
    manifests: [
      {
        mediaType: DOCKER_MANIFEST,
        digest: sha256(DOCKER_V2),
        size: DOCKER_V2.length,
        platform: { architecture: "amd64", os: "linux" },
      },
    ],
  }),
);

const REPO = "compare/app";
const OTHER = "compare/other";
const THIRD = "compare/third";
const ACCEPT_ALL = [
  OCI_MANIFEST,
  OCI_INDEX,
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

// ---------------------------------------------------------------------------------------------
// The scenario: named steps, run in order against one registry.

interface Step {
  readonly name: string;
  run(client: RawRegistryClient, state: Map<string, string>): Promise<Observation>;
  /**
   * Set where distribution 2.8 is known to differ from ACR / the OCI spec: the reference's answer
   * is checked against `reference`, the emulator's against `emulator`, and they are not compared.
   */
  readonly differs?: {
    readonly why: string;
    reference(observation: Observation): void;
    emulator(observation: Observation): void;
  };
}

async function pushBlob(client: RawRegistryClient, repository: string, blob: Buffer): Promise<RawResponse> {
  const started = await client.send("POST", `/v2/${repository}/blobs/uploads/`);
  if (started.status !== 202) throw new Error(`upload start failed: HTTP ${started.status}`);
  return client.send("PUT", withDigest(location(started), sha256(blob)), {
    headers: { "content-type": "application/octet-stream" },
    body: blob,
  });
}

const steps: Step[] = [
  {
    name: "GET /v2/ (API version check)",
    run: async (client) => observe(await client.send("GET", "/v2/"), ["content-type"]),
  },
  {
    name: "POST upload then PUT with digest and body (two-step monolithic)",
    run: async (client) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      const startObservation = observe(started, [
        "location",
        "docker-upload-uuid",
        "range",
        "content-length",
      ]);
      const done = await client.send("PUT", withDigest(location(started), sha256(CONFIG)), {
        headers: { "content-type": "application/octet-stream" },
        body: CONFIG,
      });
      const doneObservation = observe(done, ["location", "docker-content-digest"]);
      return {
        status: done.status,
        headers: { ...prefix("start", startObservation), ...doneObservation.headers },
      };
    },
  },
  {
    name: "chunked upload: PATCH, status GET, PATCH, PUT",
    run: async (client, state) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      const first = await client.send("PATCH", location(started), {
        headers: { "content-type": "application/octet-stream", "content-range": "0-999" },
        body: LAYER.subarray(0, 1000),
      });
      const status = await client.send("GET", location(first));
      const second = await client.send("PATCH", location(first), {
        headers: { "content-type": "application/octet-stream", "content-range": "1000-2999" },
        body: LAYER.subarray(1000),
      });
      state.set("chunkedLocation", location(second));
      const done = await client.send("PUT", withDigest(location(second), sha256(LAYER)));
      return {
        status: done.status,
        headers: {
          ...prefix("patch1", observe(first, ["location", "range", "docker-upload-uuid"])),
          ...prefix("status", observe(status, ["location", "range", "docker-upload-uuid"])),
          ...prefix("patch2", observe(second, ["location", "range"])),
          ...observe(done, ["location", "docker-content-digest"]).headers,
        },
      };
    },
  },
  {
    name: "upload status and cancel: GET 204 with Range, DELETE 204, then 404",
    run: async (client) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      const chunk = await client.send("PATCH", location(started), {
        headers: { "content-type": "application/octet-stream", "content-range": "0-99" },
        body: SMALL.subarray(0, 100),
      });
      const status = await client.send("GET", location(chunk));
      const cancelled = await client.send("DELETE", location(chunk));
      const after = await client.send("GET", location(chunk));
      return {
        status: cancelled.status,
        headers: {
          ...prefix("status", observe(status, ["range", "location"])),
          ...observe(cancelled, []).headers,
          ...prefix("after", observe(after, ["content-type"])),
        },
        ...(observe(after, []).errorCode !== undefined ? { errorCode: observe(after, []).errorCode } : {}),
      };
    },
  },
  {
    name: "PATCH with an out-of-order Content-Range",
    run: async (client) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      const response = await client.send("PATCH", location(started), {
        headers: { "content-type": "application/octet-stream", "content-range": "100-199" },
        body: SMALL.subarray(100),
      });
      return observe(response, ["range"]);
    },
    differs: {
      why: "distribution 2.8 ignores Content-Range and appends; the OCI spec (and its conformance suite) require 416",
      reference: (observation) => expect(observation.status).toBe(202),
      emulator: (observation) => expect(observation.status).toBe(416),
    },
  },
  {
    name: "POST with ?digest and a body (single-request monolithic upload)",
    run: async (client) => {
      const response = await client.send("POST", withDigest(`/v2/${REPO}/blobs/uploads/`, sha256(SMALL)), {
        headers: { "content-type": "application/octet-stream" },
        body: SMALL,
      });
      return observe(response, ["location", "docker-content-digest"]);
    },
    differs: {
      why:
        "distribution 2.8 ignores the digest and opens a session (202); the OCI spec lets a registry complete it (201). " +
        "Clients must handle both; either way Location is set",
      reference: (observation) => expect(observation.status).toBe(202),
      emulator: (observation) => {
        expect([201, 202]).toContain(observation.status);
        expect(observation.headers.location).toBe("(present)");
        if (observation.status === 201)
          expect(observation.headers["docker-content-digest"]).toBe(sha256(SMALL));
      },
    },
  },
  {
    name: "HEAD blob",
    run: async (client) =>
      observe(await client.send("HEAD", `/v2/${REPO}/blobs/${sha256(LAYER)}`), [
        "docker-content-digest",
        "content-length",
        "content-type",
      ]),
  },
  {
    name: "GET blob",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/blobs/${sha256(LAYER)}`),
        ["docker-content-digest", "content-length", "content-type"],
        true,
      ),
  },
  {
    name: "GET blob with Range: bytes=10-19",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/blobs/${sha256(LAYER)}`, { headers: { range: "bytes=10-19" } }),
        ["content-length", "content-range"],
        true,
      ),
  },
  {
    name: "mount a blob from another repository",
    run: async (client) => {
      await pushBlob(client, REPO, MOUNTED);
      const mounted = await client.send(
        "POST",
        `/v2/${OTHER}/blobs/uploads/?mount=${encodeURIComponent(sha256(MOUNTED))}&from=${encodeURIComponent(REPO)}`,
        { extraScopes: [`repository:${REPO}:pull`] },
      );
      const head = await client.send("HEAD", `/v2/${OTHER}/blobs/${sha256(MOUNTED)}`);
      return {
        status: mounted.status,
        headers: {
          ...observe(mounted, ["location", "docker-content-digest"]).headers,
          ...prefix("head", observe(head, ["content-length"])),
        },
      };
    },
  },
  {
    name: "mount of a blob the source does not have falls back to an upload session",
    run: async (client) =>
      observe(
        await client.send(
          "POST",
          `/v2/${OTHER}/blobs/uploads/?mount=${encodeURIComponent(NEVER_PUSHED)}&from=${encodeURIComponent(REPO)}`,
          { extraScopes: [`repository:${REPO}:pull`] },
        ),
        ["location", "docker-upload-uuid"],
      ),
  },
  {
    name: "PUT manifest by tag",
    run: async (client) =>
      observe(
        await client.send("PUT", `/v2/${REPO}/manifests/v1`, {
          headers: { "content-type": OCI_MANIFEST },
          body: MANIFEST,
        }),
        ["location", "docker-content-digest"],
      ),
  },
  {
    name: "PUT manifest by digest",
    run: async (client) => {
      await pushBlob(client, REPO, SMALL);
      return observe(
        await client.send("PUT", `/v2/${REPO}/manifests/${sha256(MANIFEST_BY_DIGEST)}`, {
          headers: { "content-type": OCI_MANIFEST },
          body: MANIFEST_BY_DIGEST,
        }),
        ["location", "docker-content-digest"],
      );
    },
  },
  {
    name: "PUT an OCI index by tag",
    run: async (client) =>
      observe(
        await client.send("PUT", `/v2/${REPO}/manifests/multi`, {
          headers: { "content-type": OCI_INDEX },
          body: INDEX,
        }),
        ["location", "docker-content-digest"],
      ),
  },
  {
    name: "PUT manifest whose URL digest does not match the body",
    run: async (client) =>
      observe(
        await client.send("PUT", `/v2/${REPO}/manifests/${sha256("something else")}`, {
          headers: { "content-type": OCI_MANIFEST },
          body: MANIFEST,
        }),
        ["content-type"],
      ),
  },
  {
    name: "PUT manifest that references an unknown blob",
    run: async (client) =>
      observe(
        await client.send("PUT", `/v2/${REPO}/manifests/broken`, {
          headers: { "content-type": OCI_MANIFEST },
          body: MANIFEST_MISSING_BLOB,
        }),
        ["content-type"],
      ),
  },
  {
    name: "GET manifest by tag with Accept",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/manifests/v1`, { headers: { accept: ACCEPT_ALL } }),
        ["docker-content-digest", "content-type", "content-length"],
        true,
      ),
  },
  {
    name: "HEAD manifest by tag",
    run: async (client) =>
      observe(await client.send("HEAD", `/v2/${REPO}/manifests/v1`, { headers: { accept: ACCEPT_ALL } }), [
        "docker-content-digest",
        "content-type",
        "content-length",
      ]),
  },
  {
    name: "GET manifest by digest with Accept",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/manifests/${sha256(MANIFEST_BY_DIGEST)}`, {
          headers: { accept: ACCEPT_ALL },
        }),
        ["docker-content-digest", "content-type", "content-length"],
        true,
      ),
  },
  {
    name: "HEAD manifest by digest",
    run: async (client) =>
      observe(
        await client.send("HEAD", `/v2/${REPO}/manifests/${sha256(MANIFEST_BY_DIGEST)}`, {
          headers: { accept: ACCEPT_ALL },
        }),
        ["docker-content-digest", "content-type", "content-length"],
      ),
  },
  {
    name: "GET index by tag with Accept",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/manifests/multi`, { headers: { accept: ACCEPT_ALL } }),
        ["docker-content-digest", "content-type", "content-length"],
        true,
      ),
  },
  {
    name: "tag list, all tags (as a set)",
    run: async (client) => {
      for (const tag of ["t1", "t2", "t3", "t4"]) {
        await client.send("PUT", `/v2/${REPO}/manifests/${tag}`, {
          headers: { "content-type": OCI_MANIFEST },
          body: MANIFEST,
        });
      }
      const response = await client.send("GET", `/v2/${REPO}/tags/list`);
      const list = tagList(response);
      return {
        ...observe(response, ["content-type", "link"]),
        body: `${list.name}: ${[...list.tags].sort().join(",")}`,
      };
    },
  },
  ...(
    [
      ["tag list page 1 with n=2 (Link to the next page)", "n=2", "multi,t1", "last=t1&n=2"],
      ["tag list page after last=t1 with n=2", "n=2&last=t1", "t2,t3", "last=t3&n=2"],
      ["tag list last page has no Link", "n=10&last=t3", "t4,v1", undefined],
    ] as const
  ).map(
    ([name, query, page, next]): Step => ({
      name,
      run: async (client) => {
        const response = await client.send("GET", `/v2/${REPO}/tags/list?${query}`);
        return { ...observe(response, ["content-type", "link"]), body: tagList(response).tags.join(",") };
      },
      differs: {
        why:
          "distribution 2.8 ignores n and last on tags/list (paging came in distribution 3) and returns every tag unsorted; " +
          "ACR and the OCI spec return the lexically sorted page after `last` and a Link header to the next page",
        reference: (observation) => {
          expect(observation.status).toBe(200);
          expect(observation.headers.link).toBeUndefined();
          expect(observation.body?.split(",").sort()).toEqual(["multi", "t1", "t2", "t3", "t4", "v1"]);
        },
        emulator: (observation) => {
          expect(observation.status).toBe(200);
          expect(observation.body).toBe(page);
          expect(observation.headers.link).toBe(
            next === undefined ? undefined : `/v2/${REPO}/tags/list?${next}; rel="next"`,
          );
        },
      },
    }),
  ),
  {
    name: "catalog page with n=1 (Link to the next page)",
    run: async (client) => {
      // A second repository with a manifest: repositories holding only blobs are listed by
      // distribution but not necessarily by ACR, so the catalog is compared on manifests only.
      await pushBlob(client, THIRD, CONFIG);
      await pushBlob(client, THIRD, LAYER);
      await client.send("PUT", `/v2/${THIRD}/manifests/v1`, {
        headers: { "content-type": OCI_MANIFEST },
        body: MANIFEST,
      });
      const response = await client.send("GET", "/v2/_catalog?n=1");
      const body = JSON.parse(response.body.toString("utf8")) as { repositories?: string[] };
      return { ...observe(response, ["content-type", "link"]), body: (body.repositories ?? []).join(",") };
    },
  },
  {
    name: "DELETE manifest by digest, then GET by digest is 404",
    run: async (client) => {
      const deleted = await client.send("DELETE", `/v2/${REPO}/manifests/${sha256(MANIFEST_BY_DIGEST)}`);
      const byDigest = await client.send("GET", `/v2/${REPO}/manifests/${sha256(MANIFEST_BY_DIGEST)}`, {
        headers: { accept: ACCEPT_ALL },
      });
      return {
        status: deleted.status,
        headers: { ...observe(deleted, []).headers, ...prefix("get", observe(byDigest, ["content-type"])) },
        ...errorOf(byDigest),
      };
    },
  },
  {
    name: "DELETE a tagged index by digest removes its tag",
    run: async (client) => {
      const deleted = await client.send("DELETE", `/v2/${REPO}/manifests/${sha256(INDEX)}`);
      const byTag = await client.send("GET", `/v2/${REPO}/manifests/multi`, {
        headers: { accept: ACCEPT_ALL },
      });
      const tags = await client.send("GET", `/v2/${REPO}/tags/list`);
      return {
        status: deleted.status,
        headers: { ...observe(deleted, []).headers, ...prefix("get", observe(byTag, ["content-type"])) },
        body: [...tagList(tags).tags].sort().join(","),
      };
    },
  },
  {
    name: "DELETE blob, then HEAD and GET are 404",
    run: async (client) => {
      const deleted = await client.send("DELETE", `/v2/${OTHER}/blobs/${sha256(MOUNTED)}`);
      const head = await client.send("HEAD", `/v2/${OTHER}/blobs/${sha256(MOUNTED)}`);
      const get = await client.send("GET", `/v2/${OTHER}/blobs/${sha256(MOUNTED)}`);
      return {
        status: deleted.status,
        headers: {
          ...observe(deleted, []).headers,
          "head.status": String(head.status),
          "get.status": String(get.status),
        },
        ...errorOf(get),
      };
    },
  },
  {
    name: "PUT and GET a Docker v2 schema 2 manifest and a Docker manifest list",
    run: async (client) => {
      const put = await client.send("PUT", `/v2/${THIRD}/manifests/docker`, {
        headers: { "content-type": DOCKER_MANIFEST },
        body: DOCKER_V2,
      });
      const putList = await client.send("PUT", `/v2/${THIRD}/manifests/docker-list`, {
        headers: { "content-type": DOCKER_LIST },
        body: DOCKER_MANIFEST_LIST,
      });
      const get = await client.send("GET", `/v2/${THIRD}/manifests/docker`, {
        headers: { accept: ACCEPT_ALL },
      });
      const getList = await client.send("GET", `/v2/${THIRD}/manifests/docker-list`, {
        headers: { accept: ACCEPT_ALL },
      });
      return {
        status: put.status,
        headers: {
          ...observe(put, ["docker-content-digest", "location"]).headers,
          ...prefix("putList", observe(putList, ["docker-content-digest", "location"])),
          ...prefix("get", observe(get, ["docker-content-digest", "content-type", "content-length"])),
          ...prefix("getList", observe(getList, ["docker-content-digest", "content-type", "content-length"])),
        },
      };
    },
  },
  {
    name: "GET a blob through a repository that does not hold it",
    run: async (client) =>
      observe(await client.send("GET", `/v2/${OTHER}/blobs/${sha256(CONFIG)}`), ["content-type"]),
  },
  {
    name: "complete an upload without a digest",
    run: async (client) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      return observe(await client.send("PUT", location(started), { body: SMALL }), ["content-type"]);
    },
  },
  {
    name: "PUT a manifest that is not JSON",
    run: async (client) =>
      observe(
        await client.send("PUT", `/v2/${REPO}/manifests/garbage`, {
          headers: { "content-type": OCI_MANIFEST },
          body: "this is not a manifest",
        }),
        ["content-type"],
      ),
  },
  {
    name: "DELETE an unknown manifest",
    run: async (client) =>
      observe(await client.send("DELETE", `/v2/${REPO}/manifests/${NEVER_PUSHED}`), ["content-type"]),
  },
  {
    name: "HEAD an unknown manifest",
    run: async (client) => {
      const head = await client.send("HEAD", `/v2/${REPO}/manifests/no-such-tag`, {
        headers: { accept: ACCEPT_ALL },
      });
      return {
        ...observe(head, []),
        headers: { ...observe(head, []).headers, body: String(head.body.length) },
      };
    },
  },
  {
    name: "unknown manifest",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/manifests/no-such-tag`, { headers: { accept: ACCEPT_ALL } }),
        ["content-type"],
      ),
  },
  {
    name: "unknown blob (GET and HEAD)",
    run: async (client) => {
      const get = await client.send("GET", `/v2/${REPO}/blobs/${NEVER_PUSHED}`);
      const head = await client.send("HEAD", `/v2/${REPO}/blobs/${NEVER_PUSHED}`);
      return {
        ...observe(get, ["content-type"]),
        headers: {
          ...observe(get, ["content-type"]).headers,
          "head.status": String(head.status),
          "head.body": String(head.body.length),
        },
      };
    },
  },
  {
    name: "tag list of an unknown repository",
    run: async (client) =>
      observe(await client.send("GET", "/v2/compare/never-pushed/tags/list"), ["content-type"]),
  },
  {
    name: "invalid digest in a blob URL",
    run: async (client) =>
      observe(await client.send("GET", `/v2/${REPO}/blobs/sha256:xyz`), ["content-type"]),
  },
  {
    name: "upload completed with a malformed digest",
    run: async (client) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      return observe(await client.send("PUT", withDigest(location(started), "sha256:xyz"), { body: SMALL }), [
        "content-type",
      ]);
    },
  },
  {
    name: "upload completed with a digest that does not match the bytes",
    run: async (client) => {
      const started = await client.send("POST", `/v2/${REPO}/blobs/uploads/`);
      return observe(await client.send("PUT", withDigest(location(started), NEVER_PUSHED), { body: SMALL }), [
        "content-type",
      ]);
    },
  },
  {
    name: "malformed digest as a manifest reference",
    run: async (client) =>
      observe(
        await client.send("GET", `/v2/${REPO}/manifests/sha256:abc`, { headers: { accept: ACCEPT_ALL } }),
        ["content-type"],
      ),
    differs: {
      why: "distribution 2.8 treats 'sha256:abc' as a tag path and fails with 500 UNKNOWN; a registry should reject it as a client error",
      reference: (observation) => expect(observation.status).toBe(500),
      emulator: (observation) => {
        expect([400, 404]).toContain(observation.status);
        expect(observation.errorCode).toMatch(
          /^(DIGEST_INVALID|MANIFEST_INVALID|MANIFEST_UNKNOWN|TAG_INVALID)$/,
        );
      },
    },
  },
  {
    name: "invalid repository name (upper case)",
    run: async (client) => observe(await client.send("GET", "/v2/Compare/App/tags/list"), ["content-type"]),
    differs: {
      why: "distribution 2.8's router does not match invalid names and answers a plain-text 404; the emulator answers with an OCI error body",
      reference: (observation) => {
        expect(observation.status).toBe(404);
        expect(observation.headers["content-type"]).toBe("text/plain");
      },
      emulator: (observation) => {
        expect([400, 404]).toContain(observation.status);
        expect(observation.headers["content-type"]).toBe("application/json");
        expect(observation.errorCode).toMatch(/^(NAME_INVALID|NAME_UNKNOWN)$/);
      },
    },
  },
];

function prefix(label: string, observation: Observation): Record<string, string> {
  const out: Record<string, string> = { [`${label}.status`]: String(observation.status) };
  for (const [name, value] of Object.entries(observation.headers)) out[`${label}.${name}`] = value;
  if (observation.errorCode !== undefined) out[`${label}.error`] = observation.errorCode;
  return out;
}

function tagList(response: RawResponse): { name: string; tags: string[] } {
  if (response.status !== 200) return { name: `(HTTP ${response.status})`, tags: [] };
  const parsed = JSON.parse(response.body.toString("utf8")) as { name?: string; tags?: string[] | null };
  return { name: parsed.name ?? "(no name)", tags: parsed.tags ?? [] };
}

function errorOf(response: RawResponse): { errorCode?: string } {
  const { errorCode } = observe(response, []);
  return errorCode === undefined ? {} : { errorCode };
}

async function runScenario(client: RawRegistryClient): Promise<Map<string, Observation>> {
  const results = new Map<string, Observation>();
  const state = new Map<string, string>();
  for (const step of steps) {
    try {
      results.set(step.name, await step.run(client, state));
    } catch (error) {
      results.set(step.name, { status: -1, headers: { error: String(error) } });
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// What the reference itself must show: the scenario is only worth comparing if it exercises
// the protocol (so a registry that answered 404 to everything would not pass by matching).

const REFERENCE_EXPECTATIONS: Record<string, (observation: Observation) => void> = {
  "GET /v2/ (API version check)": (o) => {
    expect(o.status).toBe(200);
    expect(o.headers["docker-distribution-api-version"]).toBe("registry/2.0");
  },
  "POST upload then PUT with digest and body (two-step monolithic)": (o) => {
    expect(o.status).toBe(201);
    expect(o.headers["start.status"]).toBe("202");
    expect(o.headers["start.location"]).toBe("(present)");
    expect(o.headers["docker-content-digest"]).toBe(sha256(CONFIG));
  },
  "chunked upload: PATCH, status GET, PATCH, PUT": (o) => {
    expect(o.status).toBe(201);
    expect(o.headers["patch1.range"]).toBe("0-999");
    expect(o.headers["status.status"]).toBe("204");
    expect(o.headers["status.range"]).toBe("0-999");
    expect(o.headers["patch2.range"]).toBe("0-2999");
    expect(o.headers["docker-content-digest"]).toBe(sha256(LAYER));
  },
  "upload status and cancel: GET 204 with Range, DELETE 204, then 404": (o) => {
    expect(o.status).toBe(204);
    expect(o.headers["status.range"]).toBe("0-99");
    expect(o.headers["after.status"]).toBe("404");
    expect(o.errorCode).toBe("BLOB_UPLOAD_UNKNOWN");
  },
  "GET blob": (o) => {
    expect(o.status).toBe(200);
    expect(o.bodyDigest).toBe(sha256(LAYER));
    expect(o.headers["content-length"]).toBe("3000");
  },
  "GET blob with Range: bytes=10-19": (o) => {
    expect(o.status).toBe(206);
    expect(o.bodyDigest).toBe(sha256(LAYER.subarray(10, 20)));
    expect(o.headers["content-range"]).toBe("bytes 10-19/3000");
  },
  "mount a blob from another repository": (o) => {
    expect(o.status).toBe(201);
    expect(o.headers["docker-content-digest"]).toBe(sha256(MOUNTED));
    expect(o.headers["head.status"]).toBe("200");
  },
  "mount of a blob the source does not have falls back to an upload session": (o) =>
    expect(o.status).toBe(202),
  "PUT manifest by tag": (o) => {
    expect(o.status).toBe(201);
    expect(o.headers["docker-content-digest"]).toBe(sha256(MANIFEST));
  },
  "PUT manifest by digest": (o) => expect(o.status).toBe(201),
  "PUT manifest whose URL digest does not match the body": (o) => {
    expect(o.status).toBe(400);
    expect(o.errorCode).toBe("DIGEST_INVALID");
  },
  "PUT manifest that references an unknown blob": (o) => {
    expect(o.status).toBe(400);
    expect(o.errorCode).toBe("MANIFEST_BLOB_UNKNOWN");
  },
  "GET manifest by tag with Accept": (o) => {
    expect(o.bodyDigest).toBe(sha256(MANIFEST));
    expect(o.headers["content-type"]).toBe(OCI_MANIFEST);
  },
  "GET index by tag with Accept": (o) => {
    expect(o.bodyDigest).toBe(sha256(INDEX));
    expect(o.headers["content-type"]).toBe(OCI_INDEX);
  },
  "tag list, all tags (as a set)": (o) => expect(o.body).toBe(`${REPO}: multi,t1,t2,t3,t4,v1`),
  "catalog page with n=1 (Link to the next page)": (o) => {
    expect(o.body).toBe("compare/app");
    expect(o.headers.link).toBe(`/v2/_catalog?last=compare/app&n=1; rel="next"`);
  },
  "DELETE manifest by digest, then GET by digest is 404": (o) => {
    expect(o.status).toBe(202);
    expect(o.errorCode).toBe("MANIFEST_UNKNOWN");
  },
  "DELETE a tagged index by digest removes its tag": (o) => {
    expect(o.status).toBe(202);
    expect(o.headers["get.error"]).toBe("MANIFEST_UNKNOWN");
    expect(o.body).toBe("t1,t2,t3,t4,v1");
  },
  "DELETE blob, then HEAD and GET are 404": (o) => {
    expect(o.status).toBe(202);
    expect(o.headers["head.status"]).toBe("404");
    expect(o.errorCode).toBe("BLOB_UNKNOWN");
  },
  "unknown manifest": (o) => expect(o.errorCode).toBe("MANIFEST_UNKNOWN"),
  "PUT and GET a Docker v2 schema 2 manifest and a Docker manifest list": (o) => {
    expect(o.status).toBe(201);
    expect(o.headers["putList.status"]).toBe("201");
    expect(o.headers["get.content-type"]).toBe(DOCKER_MANIFEST);
    expect(o.headers["get.docker-content-digest"]).toBe(sha256(DOCKER_V2));
    expect(o.headers["getList.content-type"]).toBe(DOCKER_LIST);
  },
  "GET a blob through a repository that does not hold it": (o) => {
    expect(o.status).toBe(404);
    expect(o.errorCode).toBe("BLOB_UNKNOWN");
  },
  "DELETE an unknown manifest": (o) => expect(o.status).toBe(404),
  "tag list of an unknown repository": (o) => expect(o.errorCode).toBe("NAME_UNKNOWN"),
  "invalid digest in a blob URL": (o) => expect(o.errorCode).toBe("DIGEST_INVALID"),
};

// ---------------------------------------------------------------------------------------------

afterAll(() => stopAllReferenceRegistries());

/** The reference runs the scenario once; both describe blocks read its observations. */
let reference: Map<string, Observation>;
beforeAll(async () => {
  const registry = await startReferenceRegistry();
  try {
    reference = await runScenario(new Client({ baseUrl: registry.url }));
  } finally {
    await registry.stop();
  }
});

describe("docker-registry (reference) answers the /v2 scenario as the protocol says", () => {
  for (const step of steps) {
    it(step.name, () => {
      const observation = reference.get(step.name);
      if (observation === undefined) throw new Error("step did not run");
      expect(observation.status, JSON.stringify(observation)).not.toBe(-1);
      step.differs?.reference(observation);
      REFERENCE_EXPECTATIONS[step.name]?.(observation);
    });
  }
});

describe("the emulator answers the /v2 scenario like docker-registry (and like ACR where they differ)", () => {
  let emulated: Map<string, Observation>;
  beforeAll(async () => {
    const credentials = { username: "compare-user", password: "compare-secret" };
    const env = await startTestEmulator(credentials);
    try {
      emulated = await runScenario(new Client({ baseUrl: env.url, ca: env.emulator.caCert, credentials }));
    } finally {
      await env.close();
    }
  });

  for (const step of steps) {
    it(step.name, () => {
      const observation = emulated.get(step.name);
      if (observation === undefined) throw new Error("step did not run");
      expect(observation.status, JSON.stringify(observation)).not.toBe(-1);
      if (step.differs !== undefined) {
        step.differs.emulator(observation);
        return;
      }
      expect(observation).toEqual(reference.get(step.name));
    });
  }
});
