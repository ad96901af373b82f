import {
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { AuthenticationError } from "../../../shared/errors/index.js";
import { mountScopePolicy, registryTokenAuthPolicy } from "../../../shared/registry/tokenAuthPolicy.js";

/** A registry that wants a Bearer token from its realm, which wants Basic credentials. */
function fakeRegistry(options: { realm?: string; password?: string } = {}) {
  const seen: { url: string; authorization: string | undefined }[] = [];
  const client: HttpClient = {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const authorization = request.headers.get("authorization");
      seen.push({ url: request.url, authorization });
      const url = new URL(request.url);
      const respond = (
        status: number,
        body = "",
        headers: Record<string, string> = {},
      ): PipelineResponse => ({
        request,
        status,
        headers: createHttpHeaders(headers),
        bodyAsText: body,
      });
      if (url.pathname === "/token") {
        const expected = `Basic ${Buffer.from(`user:${options.password ?? "pw"}`).toString("base64")}`;
        if (authorization !== expected) return respond(401);
        return respond(
          200,
          JSON.stringify({ token: `token-for ${url.searchParams.getAll("scope").join(" ")}` }),
        );
      }
      if (authorization?.startsWith("Bearer token-for")) return respond(200, "{}");
      const scope = url.searchParams.get("mount")
        ? "repository:dst:pull,push"
        : `repository:${url.pathname.split("/")[2]}:pull`;
      return respond(401, "", {
        "www-authenticate": `Bearer realm="${options.realm ?? "https://registry.example/token"}",service="registry.example",scope="${scope}"`,
      });
    },
  };
  return { client, seen };
}

function pipelineWith(credentials?: { username: string; password: string }) {
  const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 0 } });
  pipeline.addPolicy(registryTokenAuthPolicy(credentials === undefined ? {} : { credentials }), {
    phase: "Sign",
  });
  pipeline.addPolicy(mountScopePolicy(), { afterPhase: "Sign" });
  return pipeline;
}

describe("registryTokenAuthPolicy", () => {
  it("answers a Bearer challenge with a token from the realm (Basic credentials), then reuses it", async () => {
    const { client, seen } = fakeRegistry();
    const pipeline = pipelineWith({ username: "user", password: "pw" });
    const get = () =>
      pipeline.sendRequest(
        client,
        createPipelineRequest({ url: "https://registry.example/v2/app/manifests/v1", method: "GET" }),
      );
    expect((await get()).status).toBe(200);
    expect(seen.map((s) => new URL(s.url).pathname)).toEqual([
      "/v2/app/manifests/v1",
      "/token",
      "/v2/app/manifests/v1",
    ]);
    expect(new URL(seen[1]?.url ?? "").searchParams.get("scope")).toBe("repository:app:pull");
    seen.length = 0;
    expect((await get()).status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it("turns refused credentials into an AuthenticationError that says what to check", async () => {
    const { client } = fakeRegistry({ password: "other" });
    const pipeline = pipelineWith({ username: "user", password: "pw" });
    const request = createPipelineRequest({
      url: "https://registry.example/v2/app/tags/list",
      method: "GET",
    });
    const error = await pipeline.sendRequest(client, request).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(String(error)).toMatch(/username and password/);
    expect(String(error)).not.toContain("pw");
  });

  it("refuses to send credentials to a plain-http realm on another host", async () => {
    const { client, seen } = fakeRegistry({ realm: "http://evil.example/token" });
    const pipeline = pipelineWith({ username: "user", password: "pw" });
    const request = createPipelineRequest({
      url: "https://registry.example/v2/app/tags/list",
      method: "GET",
    });
    await expect(pipeline.sendRequest(client, request)).rejects.toThrow(/plain-http/);
    expect(seen.some((s) => s.url.startsWith("http://evil"))).toBe(false);
  });

  it("asks for the source repository's pull scope as well when mounting", async () => {
    const { client, seen } = fakeRegistry();
    const pipeline = pipelineWith({ username: "user", password: "pw" });
    const url = `https://registry.example/v2/dst/blobs/uploads/?mount=sha256%3A${"a".repeat(64)}&from=src`;
    expect((await pipeline.sendRequest(client, createPipelineRequest({ url, method: "POST" }))).status).toBe(
      200,
    );
    const tokenCall = seen.find((s) => s.url.includes("/token"));
    expect(new URL(tokenCall?.url ?? "").searchParams.getAll("scope")).toEqual([
      "repository:dst:pull,push",
      "repository:src:pull",
    ]);
  });
});
