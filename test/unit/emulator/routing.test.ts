import { describe, expect, it } from "vitest";
import { matchRoute } from "../../../emulator/routes/match.js";
import { parseRange } from "../../../emulator/routes/v2.js";

describe("matchRoute", () => {
  it.each([
    ["/v2/", { id: "v2.base" }],
    ["/v2", { id: "v2.base" }],
    ["/v2/_catalog", { id: "v2.catalog" }],
    ["/v2/team%2Fdelta/manifests/v1", { id: "v2.manifest", name: "team/delta", reference: "v1" }],
    [
      "/v2/team/delta/manifests/sha256%3Aab",
      { id: "v2.manifest", name: "team/delta", reference: "sha256:ab" },
    ],
    ["/v2/a/b/c/blobs/sha256:ab", { id: "v2.blob", name: "a/b/c", digest: "sha256:ab" }],
    ["/v2/a/blobs/uploads/", { id: "v2.uploadStart", name: "a" }],
    ["/v2/a/blobs/uploads", { id: "v2.uploadStart", name: "a" }],
    ["/v2/a/b/blobs/uploads/1234-abcd", { id: "v2.upload", name: "a/b", uuid: "1234-abcd" }],
    ["/v2/a%2Fb/tags/list", { id: "v2.tags", name: "a/b" }],
    ["/v2/a/referrers/sha256:ab", { id: "v2.referrers", name: "a", digest: "sha256:ab" }],
    ["/acr/v1/_catalog", { id: "acr.catalog" }],
    ["/acr/v1/team%2Fdelta", { id: "acr.repository", name: "team/delta" }],
    ["/acr/v1/team/delta", { id: "acr.repository", name: "team/delta" }],
    ["/acr/v1/team%2Fdelta/_tags", { id: "acr.tags", name: "team/delta" }],
    ["/acr/v1/team/delta/_tags/v1", { id: "acr.tag", name: "team/delta", tag: "v1" }],
    ["/acr/v1/x/y/z/_manifests", { id: "acr.manifests", name: "x/y/z" }],
    ["/acr/v1/x/_manifests/sha256%3Aab", { id: "acr.manifest", name: "x", digest: "sha256:ab" }],
    ["/oauth2/exchange", { id: "oauth.exchange" }],
    ["/oauth2/token", { id: "oauth.token" }],
    ["/_emulator/stats", { id: "emulator.stats" }],
    ["/_emulator/stats/reset", { id: "emulator.statsReset" }],
    ["/v2/team%ZZ/manifests/v1", { id: "badPath" }],
    ["/v3/whatever", { id: "notFound" }],
    ["/v2/a/unknown/thing", { id: "notFound" }],
    ["/acr/v1/", { id: "notFound" }],
  ])("%s", (path, expected) => {
    expect(matchRoute(path)).toEqual(expected);
  });
});

describe("parseRange", () => {
  it.each([
    ["bytes=0-4", 10, { start: 0, end: 4 }],
    ["bytes=5-", 10, { start: 5, end: 9 }],
    ["5-", 10, { start: 5, end: 9 }],
    ["bytes=-3", 10, { start: 7, end: 9 }],
    ["bytes=8-100", 10, { start: 8, end: 9 }],
    ["bytes=10-", 10, "unsatisfiable"],
    ["bytes=4-2", 10, "unsatisfiable"],
    ["bytes=-", 10, "unsatisfiable"],
    ["items=1-2", 10, "unsatisfiable"],
    ["bytes=0-1,4-5", 10, "unsatisfiable"],
    ["", 10, undefined],
  ] as const)("%s of %i bytes", (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});
