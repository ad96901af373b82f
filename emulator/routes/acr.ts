import { z } from "zod";
import type { AccessRequirement } from "../auth.js";
import { errors, RegistryError, RegistryErrorCode } from "../errors.js";
import { isTag, isVerifiableDigest } from "../grammar.js";
import {
  acrTime,
  emptyReply,
  jsonBody,
  jsonReply,
  linkQueryValue,
  pageSize,
  type Reply,
  type RequestContext,
} from "../http.js";
import type { AttributePatch, ListOrder, ManifestRecord, RepositoryRecord, TagRecord } from "../store.js";
import type { RouteMatch } from "./match.js";
import { requireName, type V2Deps } from "./v2.js";

/** ACR's own metadata API (`/acr/v1/`), shaped like the 2021-07-01 swagger and its examples. */

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** PATCH bodies: only the changeable attributes; other fields (e.g. teleportEnabled) are ignored. */
const AttributePatchSchema = z
  .object({
    deleteEnabled: z.boolean().optional(),
    writeEnabled: z.boolean().optional(),
    readEnabled: z.boolean().optional(),
    listEnabled: z.boolean().optional(),
  })
  .loose();

function attributePatch(ctx: RequestContext): AttributePatch {
  const body = jsonBody(ctx);
  if (body === undefined) return {};
  const parsed = AttributePatchSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RegistryError(400, RegistryErrorCode.badRequest, "invalid changeable attributes", {
      field: issue?.path.join(".") ?? "(body)",
      reason: issue?.message ?? "expected an object of booleans",
    });
  }
  const patch: AttributePatch = {};
  for (const key of ["deleteEnabled", "writeEnabled", "readEnabled", "listEnabled"] as const) {
    const value = parsed.data[key];
    if (value !== undefined) patch[key] = value;
  }
  return patch;
}

function orderOf(ctx: RequestContext): ListOrder {
  const raw = ctx.query.get("orderby");
  if (raw === null || raw === "" || raw === "none") return "none";
  if (raw === "timedesc" || raw === "timeasc") return raw;
  throw new RegistryError(400, RegistryErrorCode.unsupported, "orderby must be none, timedesc or timeasc", {
    orderby: raw,
  });
}

export function acrRequirement(match: RouteMatch, method: string): AccessRequirement | undefined {
  if (match.id === "acr.catalog") return { type: "registry", name: "catalog", action: "*" };
  if (
    match.id !== "acr.repository" &&
    match.id !== "acr.tags" &&
    match.id !== "acr.tag" &&
    match.id !== "acr.manifests" &&
    match.id !== "acr.manifest"
  ) {
    return undefined;
  }
  const action = method === "DELETE" ? "delete" : method === "PATCH" ? "metadata_write" : "metadata_read";
  return { type: "repository", name: match.name, action };
}

function changeable(attributes: {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}) {
  return {
    deleteEnabled: attributes.deleteEnabled,
    writeEnabled: attributes.writeEnabled,
    readEnabled: attributes.readEnabled,
    listEnabled: attributes.listEnabled,
  };
}

function repositoryBody(registry: string, repo: RepositoryRecord) {
  return {
    registry,
    imageName: repo.name,
    createdTime: acrTime(repo.createdMs),
    lastUpdateTime: acrTime(repo.updatedMs),
    manifestCount: repo.manifests.size,
    tagCount: repo.tags.size,
    changeableAttributes: changeable(repo.attributes),
  };
}

function tagBody(tag: TagRecord) {
  return {
    name: tag.name,
    digest: tag.digest,
    createdTime: acrTime(tag.createdMs),
    lastUpdateTime: acrTime(tag.updatedMs),
    signed: false,
    changeableAttributes: changeable(tag.attributes),
  };
}

/** One manifest as ACR lists it; platform fields only when known, references only for indexes, `tags` always. */
export function manifestBody(manifest: ManifestRecord) {
  const tags = [...manifest.tags].sort();
  return {
    digest: manifest.digest,
    imageSize: manifest.imageSize,
    createdTime: acrTime(manifest.createdMs),
    lastUpdateTime: acrTime(manifest.updatedMs),
    ...(manifest.architecture !== undefined ? { architecture: manifest.architecture } : {}),
    ...(manifest.os !== undefined ? { os: manifest.os } : {}),
    mediaType: manifest.mediaType,
    ...(manifest.configMediaType !== undefined ? { configMediaType: manifest.configMediaType } : {}),
    ...(manifest.isIndex ? { references: manifest.references.map((r) => ({ ...r })) } : {}),
    tags,
    changeableAttributes: changeable(manifest.attributes),
  };
}

function nextLink(path: string, last: string, n: number, order: ListOrder, extra = ""): string {
  const orderby = order === "none" ? "" : order;
  return `<${path}?last=${linkQueryValue(last)}&n=${n}&orderby=${orderby}${extra}>; rel="next"`;
}

export function handleAcr(match: RouteMatch, ctx: RequestContext, deps: V2Deps): Reply {
  const { method } = ctx;
  const registry = ctx.host;
  const store = deps.store;
  switch (match.id) {
    case "acr.catalog": {
      if (method !== "GET") throw errors.unsupported();
      const n = pageSize(ctx.query, DEFAULT_PAGE, MAX_PAGE);
      const page = store.listRepositories(ctx.query.get("last") || undefined, n);
      const last = page.items[page.items.length - 1];
      const headers: Record<string, string> =
        page.more && last !== undefined ? { Link: nextLink("/acr/v1/_catalog", last, n, "none") } : {};
      return jsonReply(200, { repositories: page.items }, headers);
    }
    case "acr.repository": {
      const name = requireName(match.name);
      if (method === "GET") return jsonReply(200, repositoryBody(registry, store.requireRepository(name)));
      if (method === "PATCH") {
        const patch = attributePatch(ctx);
        return jsonReply(200, repositoryBody(registry, store.updateRepositoryAttributes(name, patch)));
      }
      if (method === "DELETE") {
        const result = store.deleteRepository(name);
        for (const manifest of result.manifests)
          deps.announce(ctx, { action: "delete", repository: name, manifest });
        return jsonReply(202, { manifestsDeleted: result.manifestsDeleted, tagsDeleted: result.tagsDeleted });
      }
      throw errors.unsupported();
    }
    case "acr.tags": {
      const name = requireName(match.name);
      if (method !== "GET") throw errors.unsupported();
      const n = pageSize(ctx.query, DEFAULT_PAGE, MAX_PAGE);
      const order = orderOf(ctx);
      const digest = ctx.query.get("digest") || undefined;
      const page = store.listTags(name, {
        last: ctx.query.get("last") || undefined,
        limit: n,
        order,
        digest,
      });
      const last = page.items[page.items.length - 1];
      const headers: Record<string, string> =
        page.more && last !== undefined
          ? {
              Link: nextLink(
                `/acr/v1/${name}/_tags`,
                last.name,
                n,
                order,
                digest === undefined ? "" : `&digest=${linkQueryValue(digest)}`,
              ),
            }
          : {};
      return jsonReply(200, { registry, imageName: name, tags: page.items.map(tagBody) }, headers);
    }
    case "acr.tag": {
      const name = requireName(match.name);
      if (!isTag(match.tag)) {
        throw new RegistryError(400, RegistryErrorCode.tagInvalid, "invalid tag", { tag: match.tag });
      }
      if (method === "GET") {
        const tag = store.requireRepository(name).tags.get(match.tag);
        if (tag === undefined) throw errors.tagUnknown(match.tag);
        return jsonReply(200, { registry, imageName: name, tag: tagBody(tag) });
      }
      if (method === "PATCH") {
        const tag = store.updateTagAttributes(name, match.tag, attributePatch(ctx));
        return jsonReply(200, { registry, imageName: name, tag: tagBody(tag) });
      }
      if (method === "DELETE") {
        store.deleteTag(name, match.tag);
        return emptyReply(202);
      }
      throw errors.unsupported();
    }
    case "acr.manifests": {
      const name = requireName(match.name);
      if (method !== "GET") throw errors.unsupported();
      const n = pageSize(ctx.query, DEFAULT_PAGE, MAX_PAGE);
      const order = orderOf(ctx);
      const page = store.listManifests(name, { last: ctx.query.get("last") || undefined, limit: n, order });
      const last = page.items[page.items.length - 1];
      const headers: Record<string, string> =
        page.more && last !== undefined
          ? { Link: nextLink(`/acr/v1/${name}/_manifests`, last.digest, n, order) }
          : {};
      return jsonReply(200, { registry, imageName: name, manifests: page.items.map(manifestBody) }, headers);
    }
    case "acr.manifest": {
      const name = requireName(match.name);
      if (!isVerifiableDigest(match.digest)) throw errors.digestInvalid("invalid digest", match.digest);
      if (method === "GET") {
        const manifest = store.requireRepository(name).manifests.get(match.digest);
        if (manifest === undefined) throw errors.manifestUnknown(match.digest);
        return jsonReply(200, { registry, imageName: name, manifest: manifestBody(manifest) });
      }
      if (method === "PATCH") {
        const manifest = store.updateManifestAttributes(name, match.digest, attributePatch(ctx));
        return jsonReply(200, { registry, imageName: name, manifest: manifestBody(manifest) });
      }
      // The 2021-07-01 API has no DELETE here; manifests are deleted through /v2.
      throw errors.unsupported();
    }
    default:
      throw new RegistryError(404, RegistryErrorCode.unsupported, "unknown route");
  }
}
