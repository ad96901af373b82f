import { describe, expect, it } from "vitest";
import { InvalidReferenceError } from "../../../shared/errors/index.js";
import { formatReference, parseImageReference } from "../../../shared/registry/imageReference.js";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("parseImageReference", () => {
  it.each([
    ["team/app:v1", { repository: "team/app", tag: "v1" }],
    [`app@${DIGEST}`, { repository: "app", digest: DIGEST }],
    [`app:v1@${DIGEST}`, { repository: "app", tag: "v1", digest: DIGEST }],
    ["myreg.azurecr.io/team/app:1.0", { registry: "myreg.azurecr.io", repository: "team/app", tag: "1.0" }],
    ["127.0.0.1:8443/app:latest", { registry: "127.0.0.1:8443", repository: "app", tag: "latest" }],
    ["localhost/app:x", { registry: "localhost", repository: "app", tag: "x" }],
  ])("reads %s", (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
    expect(formatReference(parseImageReference(text))).toBe(text);
  });

  it.each([
    ["", /empty/],
    ["app", /no tag or digest/],
    ["App:v1", /not a valid repository/],
    ["app:-bad", /not a valid tag/],
    ["app@sha256:123", /not a digest/],
  ])("refuses %j and says why", (text, message) => {
    expect(() => parseImageReference(text)).toThrow(InvalidReferenceError);
    expect(() => parseImageReference(text)).toThrow(message);
  });

  it("accepts a bare repository when asked (copy targets)", () => {
    expect(parseImageReference("team/app", { requireTagOrDigest: false })).toEqual({
      repository: "team/app",
    });
  });
});
