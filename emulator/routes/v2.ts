import { type AccessRequirement, grants } from "../auth.js";
import { errors, RegistryError, RegistryErrorCode } from "../errors.js";
import {
  digestWithAlgorithmOf,
  isRepositoryName,
  isTag,
  isVerifiableDigest,
  looksLikeDigest,
} from "../grammar.js";
import {
  emptyReply,
  header,
  jsonReply,
  linkQueryValue,
  mediaTypeOf,
  pageSize,
  type Reply,
  type RequestContext,
} from "../http.js";
import { MediaType, parseManifest } from "../manifest.js";
import type { ManifestRecord, RegistryStore } from "../store.js";
import type { RouteMatch } from "./match.js";

/** The OCI distribution API (`/v2/`) as ACR serves it. */

export interface V2Deps {
  readonly store: RegistryStore;
  /** Announces a manifest push or delete (events, webhooks). */
  announce(
    ctx: RequestContext,
    change: { action: "push" | "delete"; repository: string; manifest: ManifestRecord; tag?: string },
  ): void;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export function requireName(name: string): string {
  if (!isRepositoryName(name)) throw errors.nameInvalid(name);
  return name;
}

function requireDigest(value: string): string {
  if (!isVerifiableDigest(value)) {
    throw errors.digestInvalid(
      looksLikeDigest(value) ? "unsupported digest algorithm or encoding" : "invalid digest",
      value,
    );
  }
  return value;
}

/** Classifies a manifest reference: a digest or a tag, or throws the right 400. */
function referenceOf(reference: string): { digest: string } | { tag: string } {
  if (reference.includes(":")) return { digest: requireDigest(reference) };
  if (!isTag(reference))
    throw new RegistryError(400, RegistryErrorCode.tagInvalid, "invalid tag", { tag: reference });
  return { tag: reference };
}

/** The access each /v2 route needs; undefined for routes that only need some valid token. */
export function v2Requirement(match: RouteMatch, method: string): AccessRequirement | undefined {
  switch (match.id) {
    case "v2.catalog":
      return { type: "registry", name: "catalog", action: "*" };
    case "v2.tags":
    case "v2.referrers":
      return { type: "repository", name: match.name, action: "pull" };
    case "v2.manifest":
    case "v2.blob":
      if (method === "DELETE") return { type: "repository", name: match.name, action: "delete" };
      if (method === "GET" || method === "HEAD")
        return { type: "repository", name: match.name, action: "pull" };
      return { type: "repository", name: match.name, action: "push", challengeActions: ["pull", "push"] };
    case "v2.uploadStart":
    case "v2.upload":
      return { type: "repository", name: match.name, action: "push", challengeActions: ["pull", "push"] };
    default:
      return undefined;
  }
}

function methodNotAllowed(): RegistryError {
  return errors.unsupported("The operation is unsupported.");
}

export function handleV2(match: RouteMatch, ctx: RequestContext, deps: V2Deps): Reply {
  const { method } = ctx;
  switch (match.id) {
    case "v2.base":
      if (method !== "GET" && method !== "HEAD") throw methodNotAllowed();
      return jsonReply(200, {});
    case "v2.catalog":
      if (method !== "GET") throw methodNotAllowed();
      return catalog(ctx, deps);
    case "v2.tags":
      if (method !== "GET") throw methodNotAllowed();
      return tagsList(requireName(match.name), ctx, deps);
    case "v2.manifest": {
      const name = requireName(match.name);
      if (method === "GET" || method === "HEAD") return getManifest(name, match.reference, ctx, deps);
      if (method === "PUT") return putManifest(name, match.reference, ctx, deps);
      if (method === "DELETE") return deleteManifest(name, match.reference, ctx, deps);
      throw methodNotAllowed();
    }
    case "v2.blob": {
      const name = requireName(match.name);
      if (method === "GET" || method === "HEAD") return getBlob(name, match.digest, ctx, deps);
      if (method === "DELETE") return deleteBlob(name, match.digest, deps);
      throw methodNotAllowed();
    }
    case "v2.uploadStart":
      if (method !== "POST") throw methodNotAllowed();
      return startUpload(requireName(match.name), ctx, deps);
    case "v2.upload": {
      const name = requireName(match.name);
      if (method === "PATCH") return patchUpload(name, match.uuid, ctx, deps);
      if (method === "PUT") return completeUpload(name, match.uuid, ctx, deps);
      if (method === "GET") return uploadStatus(name, match.uuid, deps);
      if (method === "DELETE") {
        deps.store.upload(name, match.uuid);
        deps.store.endUpload(match.uuid);
        return emptyReply(204);
      }
      throw methodNotAllowed();
    }
    case "v2.referrers":
      if (method !== "GET") throw methodNotAllowed();
      return referrers(requireName(match.name), match.digest, ctx, deps);
    default:
      throw new RegistryError(404, RegistryErrorCode.unsupported, "unknown route");
  }
}

function catalog(ctx: RequestContext, deps: V2Deps): Reply {
  const n = pageSize(ctx.query, DEFAULT_PAGE, MAX_PAGE);
  const last = ctx.query.get("last") ?? undefined;
  const page = deps.store.listRepositories(last || undefined, n);
  const headers: Record<string, string> = {};
  const lastItem = page.items[page.items.length - 1];
  if (page.more && lastItem !== undefined) {
    headers.Link = `</v2/_catalog?last=${linkQueryValue(lastItem)}&n=${n}>; rel="next"`;
  }
  return jsonReply(200, { repositories: page.items }, headers);
}

function tagsList(name: string, ctx: RequestContext, deps: V2Deps): Reply {
  const n = pageSize(ctx.query, DEFAULT_PAGE, MAX_PAGE);
  const last = ctx.query.get("last") || undefined;
  const page = deps.store.listTags(name, { last, limit: n, order: "none" });
  const headers: Record<string, string> = {};
  const lastItem = page.items[page.items.length - 1];
  if (page.more && lastItem !== undefined) {
    headers.Link = `</v2/${name}/tags/list?last=${linkQueryValue(lastItem.name)}&n=${n}>; rel="next"`;
  }
  return jsonReply(200, { name, tags: page.items.map((t) => t.name) }, headers);
}

/** True when the client's Accept header admits the media type (absent or wildcard admits all). */
function accepts(ctx: RequestContext, mediaType: string): boolean {
  const raw = ctx.headers.accept;
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw])
    .flatMap((v) => v.split(","))
    .map((v) => mediaTypeOf(v) ?? "")
    .filter((v) => v !== "");
  if (values.length === 0) return true;
  return values.some((v) => v === mediaType || v === "*/*" || v === "application/*");
}

function getManifest(name: string, reference: string, ctx: RequestContext, deps: V2Deps): Reply {
  referenceOf(reference);
  const repo = deps.store.repository(name);
  if (repo === undefined) throw errors.nameUnknown(name);
  const manifest = deps.store.resolve(name, reference);
  if (manifest === undefined) throw errors.manifestUnknown(reference);
  if (!repo.attributes.readEnabled) throw errors.disallowed(`repository ${name}`);
  if (!manifest.attributes.readEnabled) throw errors.disallowed(`manifest ${manifest.digest}`);
  if (!reference.includes(":") && repo.tags.get(reference)?.attributes.readEnabled === false) {
    throw errors.disallowed(`tag ${reference}`);
  }
  if (!accepts(ctx, manifest.mediaType)) {
    throw new RegistryError(404, RegistryErrorCode.manifestUnknown, "manifest unknown", {
      reference,
      reason: `the manifest is ${manifest.mediaType}, which the Accept header does not admit`,
    });
  }
  return {
    status: 200,
    headers: {
      "Content-Type": manifest.mediaType,
      "Docker-Content-Digest": manifest.digest,
      ETag: `"${manifest.digest}"`,
    },
    body: manifest.bytes,
  };
}

function putManifest(name: string, reference: string, ctx: RequestContext, deps: V2Deps): Reply {
  const ref = referenceOf(reference);
  const extraTags = ctx.query.getAll("tag");
  for (const tag of extraTags) {
    if (!isTag(tag)) throw new RegistryError(400, RegistryErrorCode.tagInvalid, "invalid tag", { tag });
  }
  if (ctx.body.length > 4 * 1024 * 1024) {
    throw new RegistryError(413, RegistryErrorCode.sizeInvalid, "manifest too large", {
      limit: 4 * 1024 * 1024,
    });
  }
  if ("digest" in ref) {
    if (!ref.digest.startsWith("sha256:"))
      throw errors.digestInvalid("manifests are addressed by sha256 digests", ref.digest);
    const computed = digestWithAlgorithmOf(ref.digest, ctx.body);
    if (computed !== ref.digest)
      throw errors.digestInvalid("the manifest does not match the digest in the URL", ref.digest);
  }
  const parsed = parseManifest(ctx.body, mediaTypeOf(header(ctx, "content-type")));
  const tags = "tag" in ref ? [ref.tag] : extraTags;
  const result = deps.store.putManifest(name, ctx.body, parsed, { tags });
  deps.announce(ctx, { action: "push", repository: name, manifest: result.manifest, tag: tags[0] });
  const headers: Record<string, string> = {
    Location: `/v2/${name}/manifests/${result.manifest.digest}`,
    "Docker-Content-Digest": result.manifest.digest,
  };
  if (result.manifest.subjectDigest !== undefined) headers["OCI-Subject"] = result.manifest.subjectDigest;
  return emptyReply(201, headers);
}

function deleteManifest(name: string, reference: string, ctx: RequestContext, deps: V2Deps): Reply {
  const ref = referenceOf(reference);
  const repo = deps.store.repository(name);
  if (repo === undefined) throw errors.nameUnknown(name);
  if ("tag" in ref) {
    // OCI 1.1: deleting by tag removes the tag only.
    if (!repo.tags.has(ref.tag)) throw errors.manifestUnknown(ref.tag);
    deps.store.deleteTag(name, ref.tag);
    return emptyReply(202);
  }
  if (!repo.manifests.has(ref.digest)) throw errors.manifestUnknown(ref.digest);
  const removed = deps.store.deleteManifest(name, ref.digest);
  deps.announce(ctx, { action: "delete", repository: name, manifest: removed });
  return emptyReply(202);
}

type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/** Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` and the SDK's bare `a-`. */
export function parseRange(value: string | undefined, size: number): ByteRange {
  if (value === undefined || value.trim() === "") return undefined;
  const match = /^\s*(?:bytes=)?(\d*)-(\d*)\s*$/i.exec(value);
  if (match === null) return "unsatisfiable";
  const [, from = "", to = ""] = match;
  if (from === "" && to === "") return "unsatisfiable";
  if (from === "") {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || (to !== "" && Number(to) < start)) return "unsatisfiable";
  return { start, end };
}

function getBlob(name: string, digest: string, ctx: RequestContext, deps: V2Deps): Reply {
  requireDigest(digest);
  const repo = deps.store.repository(name);
  const bytes = deps.store.getBlob(name, digest);
  if (bytes === undefined) throw errors.blobUnknown(digest);
  if (repo !== undefined && !repo.attributes.readEnabled) throw errors.disallowed(`repository ${name}`);
  const common = {
    "Docker-Content-Digest": digest,
    "Accept-Ranges": "bytes",
    ETag: `"${digest}"`,
  };
  const range = parseRange(header(ctx, "range"), bytes.length);
  if (range === "unsatisfiable") {
    throw new RegistryError(
      416,
      RegistryErrorCode.rangeInvalid,
      "requested range not satisfiable",
      undefined,
      {
        "Content-Range": `bytes */${bytes.length}`,
      },
    );
  }
  if (range !== undefined) {
    return {
      status: 206,
      headers: {
        ...common,
        "Content-Type": "application/octet-stream",
        "Content-Range": `bytes ${range.start}-${range.end}/${bytes.length}`,
      },
      body: bytes.subarray(range.start, range.end + 1),
    };
  }
  return { status: 200, headers: { ...common, "Content-Type": "application/octet-stream" }, body: bytes };
}

function deleteBlob(name: string, digest: string, deps: V2Deps): Reply {
  requireDigest(digest);
  if (!deps.store.deleteBlob(name, digest)) throw errors.blobUnknown(digest);
  return emptyReply(202, { "Docker-Content-Digest": digest });
}

function blobCreated(name: string, digest: string): Reply {
  return emptyReply(201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
}

/** Verifies uploaded bytes against the digest the client claims. */
function verifyUpload(claimed: string | null, bytes: Buffer): string {
  if (claimed === null || claimed === "")
    throw errors.digestInvalid("the digest query parameter is required");
  requireDigest(claimed);
  if (digestWithAlgorithmOf(claimed, bytes) !== claimed) {
    throw errors.digestInvalid("provided digest did not match uploaded content", claimed);
  }
  return claimed;
}

function sessionReply(status: number, name: string, uuid: string, size: number): Reply {
  return emptyReply(status, {
    Location: `/v2/${name}/blobs/uploads/${uuid}`,
    Range: `0-${size > 0 ? size - 1 : 0}`,
    "Docker-Upload-UUID": uuid,
  });
}

function startUpload(name: string, ctx: RequestContext, deps: V2Deps): Reply {
  const mount = ctx.query.get("mount");
  const from = ctx.query.get("from");
  if (mount !== null && mount !== "") {
    requireDigest(mount);
    if (from !== null && from !== "" && isRepositoryName(from)) {
      const sourceReadable =
        ctx.claims !== undefined && grants(ctx.claims, { type: "repository", name: from, action: "pull" });
      if (
        sourceReadable &&
        deps.store.getBlob(from, mount) !== undefined &&
        deps.store.linkBlob(name, mount)
      ) {
        return blobCreated(name, mount);
      }
    }
    // Not mountable: fall back to a new upload session, as the distribution spec says.
  }
  const digest = ctx.query.get("digest");
  if (digest !== null) {
    const verified = verifyUpload(digest, ctx.body);
    deps.store.putBlob(name, verified, Buffer.from(ctx.body));
    return blobCreated(name, verified);
  }
  const session = deps.store.startUpload(name);
  return sessionReply(202, name, session.uuid, 0);
}

function patchUpload(name: string, uuid: string, ctx: RequestContext, deps: V2Deps): Reply {
  const session = deps.store.upload(name, uuid);
  const contentRange = header(ctx, "content-range");
  if (contentRange !== undefined && contentRange !== "") {
    const match = /^(?:bytes\s+)?(\d+)-(\d+)(?:\/\d+|\/\*)?$/i.exec(contentRange.trim());
    if (match === null) {
      throw new RegistryError(
        416,
        RegistryErrorCode.rangeInvalid,
        "invalid Content-Range",
        { contentRange },
        {
          Location: `/v2/${name}/blobs/uploads/${uuid}`,
          Range: `0-${session.size > 0 ? session.size - 1 : 0}`,
        },
      );
    }
    const start = Number(match[1]);
    const end = Number(match[2]);
    if (start !== session.size || end < start) {
      throw new RegistryError(
        416,
        RegistryErrorCode.rangeInvalid,
        "chunk out of order",
        { expectedStart: session.size, contentRange },
        {
          Location: `/v2/${name}/blobs/uploads/${uuid}`,
          Range: `0-${session.size > 0 ? session.size - 1 : 0}`,
        },
      );
    }
    if (end - start + 1 !== ctx.body.length) {
      throw new RegistryError(
        400,
        RegistryErrorCode.blobUploadInvalid,
        "Content-Range does not match the body length",
        {
          contentRange,
          bodyLength: ctx.body.length,
        },
      );
    }
  }
  if (ctx.body.length > 0) {
    session.chunks.push(Buffer.from(ctx.body));
    session.size += ctx.body.length;
  }
  return sessionReply(202, name, uuid, session.size);
}

function completeUpload(name: string, uuid: string, ctx: RequestContext, deps: V2Deps): Reply {
  const session = deps.store.upload(name, uuid);
  const claimed = ctx.query.get("digest");
  const bytes = Buffer.concat([...session.chunks, ctx.body]);
  let verified: string;
  try {
    verified = verifyUpload(claimed, bytes);
  } catch (error) {
    if (claimed !== null && claimed !== "") deps.store.endUpload(uuid);
    throw error;
  }
  deps.store.endUpload(uuid);
  deps.store.putBlob(name, verified, bytes);
  return blobCreated(name, verified);
}

function uploadStatus(name: string, uuid: string, deps: V2Deps): Reply {
  const session = deps.store.upload(name, uuid);
  return sessionReply(204, name, uuid, session.size);
}

function referrers(name: string, digest: string, ctx: RequestContext, deps: V2Deps): Reply {
  requireDigest(digest);
  const artifactType = ctx.query.get("artifactType");
  let manifests = deps.store.referrers(name, digest);
  const headers: Record<string, string> = { "Content-Type": MediaType.ociIndex };
  if (artifactType !== null && artifactType !== "") {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers["OCI-Filters-Applied"] = "artifactType";
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: manifests.map((m) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.bytes.length,
      ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
      ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
    })),
  };
  return { status: 200, headers, body: Buffer.from(JSON.stringify(index)) };
}
