import { describe, expect, it } from "vitest";
import { REDACTED, redactSecrets, secretVariants } from "../../../shared/scanning/redact.js";
import { acrRefreshTokenCredentials } from "../../../shared/scanning/scanRunner.js";

const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrZXIifQ.c2lnbmF0dXJl";

describe("redactSecrets", () => {
  it("removes every occurrence of a known secret and its Basic-auth and URL-encoded forms", () => {
    const credentials = acrRefreshTokenCredentials("s3cr3t/with+chars=");
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
    const text = `pw s3cr3t/with+chars= again s3cr3t/with+chars= basic ${basic} url s3cr3t%2Fwith%2Bchars%3D`;
    const out = redactSecrets(text, secretVariants(credentials));
    expect(out).not.toContain("s3cr3t");
    expect(out).not.toContain(basic);
    expect(out.split(REDACTED).length - 1).toBe(4);
  });

  it("removes token-shaped text even when the secret is not known", () => {
    const out = redactSecrets(
      `token ${token}; Authorization: Bearer abcdefghijkl123; url ?password=hunter22&x=1; refresh_token: "zzzzzzzz"`,
    );
    expect(out).not.toContain(token);
    expect(out).not.toContain("abcdefghijkl123");
    expect(out).not.toContain("hunter22");
    expect(out).not.toContain("zzzzzzzz");
    expect(out).toContain("&x=1");
  });

  it("can leave token-shaped text alone and remove only the known secrets (for reports)", () => {
    const text = `description: send "Authorization: Bearer abcdefghijkl123" ${token} and our s3cr3t-value`;
    expect(redactSecrets(text, ["s3cr3t-value"], { tokenPatterns: false })).toBe(
      `description: send "Authorization: Bearer abcdefghijkl123" ${token} and our ${REDACTED}`,
    );
  });

  it("leaves ordinary Trivy output alone", () => {
    const line =
      "2026-11-27T10:00:01Z\tFATAL\tFatal error\trun error: GET https://r.azurecr.io/v2/app/manifests/sha256:00: MANIFEST_UNKNOWN";
    expect(redactSecrets(line, [])).toBe(line);
  });

  it("has nothing to hide without credentials", () => {
    expect(secretVariants(null)).toEqual([]);
    expect(secretVariants({ username: "u", password: "" })).toEqual([]);
  });
});
