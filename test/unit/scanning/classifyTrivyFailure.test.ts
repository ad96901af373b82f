import { describe, expect, it } from "vitest";
import { classifyTrivyExit, fatalMessage } from "../../../shared/scanning/classifyTrivyFailure.js";
import { isRetryableFailure } from "../../../shared/scanning/scanRunner.js";

const fatal = (message: string) =>
  `2026-11-27T10:00:00Z\tINFO\t[vuln] Vulnerability scanning is enabled\n2026-11-27T10:00:01Z\tFATAL\tFatal error\t${message}\n`;
const remote = (detail: string) =>
  fatal(
    `run error: image scan error: scan error: unable to initialize a scan service: unable to initialize an image scan service: unable to find the specified image "r.azurecr.io/app@sha256:00" in ["remote"]: 1 error occurred:\n\t* remote error: ${detail}`,
  );

describe("classifyTrivyExit", () => {
  it.each([
    [
      "manifest unknown",
      remote(
        "GET https://r.azurecr.io/v2/app/manifests/sha256:00: MANIFEST_UNKNOWN: manifest sha256:00 is not found",
      ),
      "image-gone",
    ],
    [
      "repository unknown",
      remote(
        "GET https://r.azurecr.io/v2/app/manifests/sha256:00: NAME_UNKNOWN: repository name not known to registry",
      ),
      "image-gone",
    ],
    [
      "HEAD 404",
      remote(
        "HEAD https://r.azurecr.io/v2/app/manifests/sha256:00: unexpected status code 404 Not Found (HEAD responses have no body, use GET for details)",
      ),
      "image-gone",
    ],
    [
      "ACR unauthorized",
      remote(
        "GET https://r.azurecr.io/oauth2/token?scope=repository%3Aapp%3Apull: UNAUTHORIZED: authentication required, visit https://aka.ms/acr/authorization for more information.",
      ),
      "auth-failed",
    ],
    [
      "denied",
      remote(
        "GET https://r.azurecr.io/v2/app/manifests/sha256:00: DENIED: requested access to the resource is denied",
      ),
      "auth-failed",
    ],
    [
      "403 status",
      remote("GET https://r.azurecr.io/v2/app/manifests/sha256:00: unexpected status code 403 Forbidden"),
      "auth-failed",
    ],
    // Docker Hub answers UNAUTHORIZED for repositories that do not exist: never call that gone.
    [
      "unauthorized with not-found words",
      remote(
        "GET https://index.docker.io/v2/library/nope/manifests/latest: UNAUTHORIZED: authentication required; not found",
      ),
      "auth-failed",
    ],
    [
      "deadline",
      fatal(
        "run error: image scan error: scan error: scan failed: failed analysis: analyze error: timeout: context deadline exceeded",
      ),
      "timeout",
    ],
    [
      "first run without DB",
      fatal("run error: init error: DB error: --skip-db-update cannot be specified on the first run"),
      "db-unavailable",
    ],
    [
      "DB download 404 is not the image",
      fatal(
        "init error: DB error: failed to download vulnerability DB: OCI artifact error: GET https://m/v2/aquasec/trivy-db/manifests/2: MANIFEST_UNKNOWN: manifest unknown",
      ),
      "db-unavailable",
    ],
    [
      "DB schema mismatch",
      fatal("init error: DB error: the version of DB schema doesn't match"),
      "db-unavailable",
    ],
    [
      "cache lock",
      fatal("run error: cache error: cache may be in use by another process: timeout"),
      "scan-error",
    ],
    ["bad flag", "Error: unknown flag: --bogus\n", "scan-error"],
  ] as const)("%s → %s", (_name, stderr, expected) => {
    expect(classifyTrivyExit({ exitCode: 1, signal: null, stderr }).failure).toBe(expected);
  });

  it("calls a signal or an unexpected exit code a crash", () => {
    expect(classifyTrivyExit({ exitCode: null, signal: "SIGKILL", stderr: "" })).toEqual({
      failure: "crashed",
      reason: "trivy was killed by SIGKILL",
    });
    const panic = classifyTrivyExit({
      exitCode: 2,
      signal: null,
      stderr: "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV]\n",
    });
    expect(panic.failure).toBe("crashed");
    expect(panic.reason).toContain("code 2");
    expect(panic.reason).toContain("nil pointer dereference");
    expect(classifyTrivyExit({ exitCode: 137, signal: null, stderr: "" }).failure).toBe("crashed");
  });

  it("only gives up for good on images that are gone", () => {
    expect(isRetryableFailure("image-gone")).toBe(false);
    for (const kind of [
      "auth-failed",
      "timeout",
      "crashed",
      "malformed-output",
      "db-unavailable",
      "cancelled",
      "scan-error",
    ] as const) {
      expect(isRetryableFailure(kind)).toBe(true);
    }
  });
});

describe("fatalMessage", () => {
  it("keeps the FATAL line and its error list, not the INFO lines before it", () => {
    const message = fatalMessage(remote("GET https://r/v2/app/manifests/x: MANIFEST_UNKNOWN: gone"));
    expect(message).toMatch(/^2026-11-27T10:00:01Z\tFATAL/);
    expect(message).toContain("* remote error: GET https://r/v2/app/manifests/x: MANIFEST_UNKNOWN: gone");
    expect(message).not.toContain("INFO");
  });

  it("falls back to the last lines, and says when there was nothing", () => {
    expect(fatalMessage("a\nb\nc\nd\ne\nf\ng\n")).toBe("c\nd\ne\nf\ng");
    expect(fatalMessage("")).toBe("trivy printed nothing on stderr");
  });
});
