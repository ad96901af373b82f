/**
 * Maps a request path to a route. Clients percent-encode repository names (`team%2Fdelta`) and digests
 * (`sha256%3A...`), or send them raw (`team/delta`): every segment is decoded first, then routes are
 * recognised by their fixed trailing keywords so nested names of any depth work.
 */

export type RouteMatch =
  | { id: "v2.base" }
  | { id: "v2.catalog" }
  | { id: "v2.tags"; name: string }
  | { id: "v2.manifest"; name: string; reference: string }
  | { id: "v2.blob"; name: string; digest: string }
  | { id: "v2.uploadStart"; name: string }
  | { id: "v2.upload"; name: string; uuid: string }
  | { id: "v2.referrers"; name: string; digest: string }
  | { id: "acr.catalog" }
  | { id: "acr.repository"; name: string }
  | { id: "acr.tags"; name: string }
  | { id: "acr.tag"; name: string; tag: string }
  | { id: "acr.manifests"; name: string }
  | { id: "acr.manifest"; name: string; digest: string }
  | { id: "oauth.exchange" }
  | { id: "oauth.token" }
  | { id: "emulator.stats" }
  | { id: "emulator.statsReset" }
  | { id: "emulator.health" }
  | { id: "badPath" }
  | { id: "notFound" };

export type RouteId = RouteMatch["id"];

/** Route templates as stats report them (method is prefixed by the caller). */
export const ROUTE_TEMPLATES: Record<RouteId, string> = {
  "v2.base": "/v2/",
  "v2.catalog": "/v2/_catalog",
  "v2.tags": "/v2/{name}/tags/list",
  "v2.manifest": "/v2/{name}/manifests/{reference}",
  "v2.blob": "/v2/{name}/blobs/{digest}",
  "v2.uploadStart": "/v2/{name}/blobs/uploads/",
  "v2.upload": "/v2/{name}/blobs/uploads/{uuid}",
  "v2.referrers": "/v2/{name}/referrers/{digest}",
  "acr.catalog": "/acr/v1/_catalog",
  "acr.repository": "/acr/v1/{name}",
  "acr.tags": "/acr/v1/{name}/_tags",
  "acr.tag": "/acr/v1/{name}/_tags/{reference}",
  "acr.manifests": "/acr/v1/{name}/_manifests",
  "acr.manifest": "/acr/v1/{name}/_manifests/{digest}",
  "oauth.exchange": "/oauth2/exchange",
  "oauth.token": "/oauth2/token",
  "emulator.stats": "/_emulator/stats",
  "emulator.statsReset": "/_emulator/stats/reset",
  "emulator.health": "/_emulator/health",
  badPath: "(malformed path)",
  notFound: "(unknown route)",
};

function decodeSegments(rawPath: string): string[] | undefined {
  try {
    return rawPath
      .split("/")
      .map((segment) => decodeURIComponent(segment))
      .join("/")
      .split("/");
  } catch {
    return undefined;
  }
}

function matchV2(segs: string[]): RouteMatch {
  const n = segs.length;
  if (n === 0 || (n === 1 && segs[0] === "")) return { id: "v2.base" };
  if (n === 1 && segs[0] === "_catalog") return { id: "v2.catalog" };
  const nameOf = (end: number) => segs.slice(0, end).join("/");
  if (n >= 4 && segs[n - 3] === "blobs" && segs[n - 2] === "uploads") {
    const last = segs[n - 1] as string;
    return last === ""
      ? { id: "v2.uploadStart", name: nameOf(n - 3) }
      : { id: "v2.upload", name: nameOf(n - 3), uuid: last };
  }
  if (n >= 3 && segs[n - 2] === "blobs" && segs[n - 1] === "uploads")
    return { id: "v2.uploadStart", name: nameOf(n - 2) };
  if (n >= 3 && segs[n - 2] === "tags" && segs[n - 1] === "list")
    return { id: "v2.tags", name: nameOf(n - 2) };
  if (n >= 3) {
    const keyword = segs[n - 2];
    const last = segs[n - 1] as string;
    const name = nameOf(n - 2);
    if (keyword === "manifests") return { id: "v2.manifest", name, reference: last };
    if (keyword === "blobs") return { id: "v2.blob", name, digest: last };
    if (keyword === "referrers") return { id: "v2.referrers", name, digest: last };
  }
  return { id: "notFound" };
}

function matchAcr(segs: string[]): RouteMatch {
  const n = segs.length;
  if (n === 0 || (n === 1 && segs[0] === "")) return { id: "notFound" };
  if (n === 1 && segs[0] === "_catalog") return { id: "acr.catalog" };
  const last = segs[n - 1] as string;
  if (last === "_tags") return { id: "acr.tags", name: segs.slice(0, n - 1).join("/") };
  if (last === "_manifests") return { id: "acr.manifests", name: segs.slice(0, n - 1).join("/") };
  if (n >= 3 && segs[n - 2] === "_tags")
    return { id: "acr.tag", name: segs.slice(0, n - 2).join("/"), tag: last };
  if (n >= 3 && segs[n - 2] === "_manifests") {
    return { id: "acr.manifest", name: segs.slice(0, n - 2).join("/"), digest: last };
  }
  return { id: "acr.repository", name: segs.join("/") };
}

export function matchRoute(rawPath: string): RouteMatch {
  const segs = decodeSegments(rawPath);
  if (segs === undefined) return { id: "badPath" };
  // segs[0] is the empty string before the leading slash.
  const [, first, second, ...rest] = segs;
  if (first === "v2") return matchV2(second === undefined ? [] : [second, ...rest]);
  if (first === "acr" && second === "v1") return matchAcr(rest);
  if (first === "oauth2" && rest.length === 0) {
    if (second === "exchange") return { id: "oauth.exchange" };
    if (second === "token") return { id: "oauth.token" };
  }
  if (first === "_emulator") {
    if (second === "stats" && rest.length === 0) return { id: "emulator.stats" };
    if (second === "stats" && rest.length === 1 && rest[0] === "reset") return { id: "emulator.statsReset" };
    if (second === "health" && rest.length === 0) return { id: "emulator.health" };
  }
  return { id: "notFound" };
}
