import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  AuthorizationError,
  ConfigurationError,
  GuardError,
  InvalidReferenceError,
  NotFoundError,
  ThrottledError,
  UnavailableError,
} from "../../../shared/errors/index.js";
import {
  assertAllowed,
  parseAllowList,
  parseRegistryEndpoint,
} from "../../../shared/registry/openRegistry.js";
import { errorFromStatus, parseRetryAfter } from "../../../shared/registry/registryErrors.js";

describe("registry endpoints and the allow-list", () => {
  it("accepts login servers and https origins, plain http only on loopback", () => {
    expect(parseRegistryEndpoint("MyReg.azurecr.io")).toEqual({
      loginServer: "myreg.azurecr.io",
      baseUrl: "https://myreg.azurecr.io",
    });
    expect(parseRegistryEndpoint("http://127.0.0.1:5000/").baseUrl).toBe("http://127.0.0.1:5000");
    expect(() => parseRegistryEndpoint("http://registry.example")).toThrow(InvalidReferenceError);
    expect(() => parseRegistryEndpoint("registry.example/path")).toThrow(InvalidReferenceError);
  });

  it("reads ACR_STEWARD_REGISTRIES and refuses hosts outside it", () => {
    const allowed = parseAllowList(" a.azurecr.io, B.azurecr.io ,");
    expect(allowed).toEqual(["a.azurecr.io", "b.azurecr.io"]);
    expect(() => assertAllowed("b.azurecr.io", allowed)).not.toThrow();
    expect(() => assertAllowed("evil.example", allowed)).toThrow(ConfigurationError);
    expect(() => assertAllowed("evil.example", allowed)).toThrow(/ACR_STEWARD_REGISTRIES/);
    expect(() => parseAllowList("ok.azurecr.io,not a host")).toThrow(/'not a host'/);
  });
});

describe("registry answers become errors that say what to check", () => {
  const context = { registry: "r.azurecr.io", operation: "delete team/app@sha256:x", subject: "team/app:v1" };

  it.each([
    [401, AuthenticationError, /credentials.*role/],
    [403, AuthorizationError, /role assignment|scope map/],
    [404, NotFoundError, /spelling of the repository/],
    [405, GuardError, /locked/],
    [429, ThrottledError, /back/],
    [503, UnavailableError, /service health/],
  ])("%i", (status, type, message) => {
    const error = errorFromStatus({ status, retryAfterMs: 2000 }, context);
    expect(error).toBeInstanceOf(type);
    expect(error.message).toMatch(message);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", Date.parse("2026-01-01T00:00:00Z"))).toBe(10_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
