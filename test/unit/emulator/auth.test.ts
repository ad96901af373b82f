import { describe, expect, it } from "vitest";
import {
  grants,
  identityFromAadToken,
  parseBasicAuth,
  parseScope,
  parseScopes,
  restrictToAnonymous,
  TokenAuthority,
} from "../../../emulator/auth.js";

describe("emulator tokens and scopes", () => {
  it("parses scopes, including nested names, repeated and space-separated values", () => {
    expect(parseScope("repository:team/app:pull,push")).toEqual({
      type: "repository",
      name: "team/app",
      actions: ["pull", "push"],
    });
    expect(parseScope("registry:catalog:*")).toEqual({ type: "registry", name: "catalog", actions: ["*"] });
    for (const bad of [
      "",
      "repository",
      "repository:a",
      "repository::pull",
      "blob:a:pull",
      "repository:a:",
    ]) {
      expect(parseScope(bad), bad).toBeUndefined();
    }
    expect(parseScopes(["repository:a:pull repository:b:push", "junk"]).map((e) => e.name)).toEqual([
      "a",
      "b",
    ]);
  });

  it("grants per repository and action; pull covers metadata_read but never delete", () => {
    const authority = new TokenAuthority();
    const token = authority.issueAccessToken("me", "svc", parseScopes(["repository:a:pull"])).token;
    const claims = authority.verify(token, "access");
    if (claims === undefined) throw new Error("token did not verify");
    expect(grants(claims, { type: "repository", name: "a", action: "pull" })).toBe(true);
    expect(grants(claims, { type: "repository", name: "a", action: "metadata_read" })).toBe(true);
    expect(grants(claims, { type: "repository", name: "a", action: "delete" })).toBe(false);
    expect(grants(claims, { type: "repository", name: "a", action: "metadata_write" })).toBe(false);
    expect(grants(claims, { type: "repository", name: "b", action: "pull" })).toBe(false);
    expect(grants(claims, { type: "registry", name: "catalog", action: "*" })).toBe(false);
  });

  it("rejects tampered, foreign, expired and wrong-kind tokens", () => {
    let now = Date.now();
    const authority = new TokenAuthority(() => now);
    const refresh = authority.issueRefreshToken("me", "svc");
    expect(authority.verify(refresh, "refresh")?.sub).toBe("me");
    expect(typeof authority.verify(refresh, "refresh")?.exp).toBe("number");
    expect(authority.verify(refresh, "access")).toBeUndefined();
    const [h, p, s] = refresh.split(".");
    const payload = JSON.parse(Buffer.from(p ?? "", "base64url").toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: "admin" })).toString("base64url")}.${s}`;
    expect(authority.verify(tampered, "refresh")).toBeUndefined();
    expect(new TokenAuthority().verify(refresh, "refresh")).toBeUndefined();
    expect(authority.verify("a.b", "refresh")).toBeUndefined();
    now += 4 * 60 * 60 * 1000;
    expect(authority.verify(refresh, "refresh")).toBeUndefined();
  });

  it("limits anonymous access to pull, metadata reads and the catalog", () => {
    const entries = restrictToAnonymous(
      parseScopes(["repository:a:pull,push,delete", "repository:b:delete", "registry:catalog:*"]),
    );
    expect(entries).toEqual([
      { type: "repository", name: "a", actions: ["pull"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ]);
  });

  it("derives a stable identity from AAD tokens without keeping the token", () => {
    const jwt = `x.${Buffer.from(JSON.stringify({ oid: "1234", exp: 9_999_999_999 })).toString("base64url")}.y`;
    expect(identityFromAadToken(jwt)).toEqual({ subject: "aad:1234", expired: false });
    const opaque = identityFromAadToken("opaque-token");
    expect(opaque.subject).toMatch(/^aad:[0-9a-f]{16}$/);
    expect(opaque.subject).not.toContain("opaque");
    const expired = `x.${Buffer.from(JSON.stringify({ oid: "1", exp: 1 })).toString("base64url")}.y`;
    expect(identityFromAadToken(expired).expired).toBe(true);
  });

  it("parses Basic credentials with colons in the password", () => {
    expect(parseBasicAuth(`Basic ${Buffer.from("u:p:q").toString("base64")}`)).toEqual({
      username: "u",
      password: "p:q",
    });
    expect(parseBasicAuth("Bearer x")).toBeUndefined();
    expect(parseBasicAuth(`Basic ${Buffer.from("nocolon").toString("base64")}`)).toBeUndefined();
  });
});
