import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO } from "../../../emulator/index.js";
import { bearerFor, fetchEmulator, startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";

/** ACR's OAuth2 endpoints, scopes, /acr/v1 paging and locks, faults, stats, and a little fuzzing. */

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { "Content-Type": "application/x-www-form-urlencoded" };

function errorCode(body: unknown): string | undefined {
  return (body as { errors?: { code?: string }[] }).errors?.[0]?.code;
}

function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
    string,
    unknown
  >;
}

describe("emulator auth, /acr/v1 and faults", () => {
  let env: TestEmulator;
  const call = (
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Buffer | string } = {},
  ) => fetchEmulator(env.emulator, method, path, init);

  async function accessToken(scope: string): Promise<string> {
    const exchange = await call("POST", "/oauth2/exchange?api-version=2021-07-01", {
      headers: FORM,
      body: form({ grant_type: "access_token", service: env.loginServer, access_token: "aad-token" }),
    });
    const refresh = (exchange.json() as { refresh_token: string }).refresh_token;
    const token = await call("POST", "/oauth2/token?api-version=2021-07-01", {
      headers: FORM,
      body: form({ service: env.loginServer, scope, refresh_token: refresh, grant_type: "refresh_token" }),
    });
    expect(token.status).toBe(200);
    return (token.json() as { access_token: string }).access_token;
  }

  beforeAll(async () => {
    env = await startTestEmulator({
      seed: { kind: "demo" },
      username: "dev",
      password: "s3cret",
      randomSeed: 42,
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  it("challenges like ACR and runs the exchange → token flow", async () => {
    const challenge = await call("GET", "/acr/v1/_catalog?api-version=2021-07-01");
    expect(challenge.status).toBe(401);
    expect(challenge.headers["www-authenticate"]).toBe(
      `Bearer realm="https://${env.loginServer}/oauth2/token",service="${env.loginServer}",scope="registry:catalog:*"`,
    );
    expect(challenge.json()).toEqual({
      errors: [
        {
          code: "UNAUTHORIZED",
          message: "authentication required, visit https://aka.ms/acr/authorization for more information.",
          detail: [{ Type: "registry", Name: "catalog", Action: "*" }],
        },
      ],
    });
    const exchange = await call("POST", "/oauth2/exchange", {
      headers: FORM,
      body: form({ grant_type: "access_token", service: env.loginServer, access_token: "aad" }),
    });
    const refresh = (exchange.json() as { refresh_token: string }).refresh_token;
    expect(typeof jwtPayload(refresh).exp).toBe("number");
    const empty = await call("POST", "/oauth2/exchange", {
      headers: FORM,
      body: form({ grant_type: "access_token", service: env.loginServer, access_token: "" }),
    });
    expect(empty.status).toBe(401);
    const token = await accessToken("registry:catalog:*");
    const ok = await call("GET", "/acr/v1/_catalog", { headers: { Authorization: `Bearer ${token}` } });
    expect(ok.json()).toEqual({ repositories: [...DEMO.repositories].sort() });
  });

  it("enforces scopes per repository and action, and rejects forged tokens", async () => {
    const pullOnly = await accessToken("repository:team/web:pull");
    const headers = { Authorization: `Bearer ${pullOnly}` };
    expect((await call("GET", "/v2/team/web/tags/list", { headers })).status).toBe(200);
    expect((await call("GET", "/acr/v1/team%2Fweb/_tags", { headers })).status).toBe(200); // pull reads metadata
    const del = await call("DELETE", "/acr/v1/team%2Fweb/_tags/1.0.0", { headers });
    expect(del.status).toBe(401);
    expect(del.headers["www-authenticate"]).toContain('scope="repository:team/web:delete"');
    const otherRepo = await call("GET", "/v2/team/api/tags/list", { headers });
    expect(otherRepo.status).toBe(401);
    const [h, p] = pullOnly.split(".");
    const claims = {
      ...JSON.parse(Buffer.from(p ?? "", "base64url").toString()),
      access: [{ type: "repository", name: "team/web", actions: ["*"] }],
    };
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${pullOnly.split(".")[2]}`;
    expect(
      (
        await call("DELETE", "/acr/v1/team%2Fweb/_tags/1.0.0", {
          headers: { Authorization: `Bearer ${forged}` },
        })
      ).status,
    ).toBe(401);
    expect((await call("GET", "/v2/", { headers: { Authorization: "Bearer not.a.token" } })).status).toBe(
      401,
    );
  });

  it("logs in docker-style with Basic auth and refuses anonymous tokens when anonymous pull is off", async () => {
    const basic = (u: string, p: string) => ({
      Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`,
    });
    const path = `/oauth2/token?service=${env.loginServer}&scope=repository:team/web:pull`;
    const ok = await call("GET", path, { headers: basic("dev", "s3cret") });
    expect(ok.status).toBe(200);
    const body = ok.json() as { token: string; access_token: string };
    expect(body.token).toBe(body.access_token);
    expect(
      (await call("GET", "/v2/team/web/tags/list", { headers: { Authorization: `Bearer ${body.token}` } }))
        .status,
    ).toBe(200);
    expect((await call("GET", path, { headers: basic("dev", "wrong") })).status).toBe(401);
    expect((await call("GET", path)).status).toBe(401);
    const anonymous = await call("POST", "/oauth2/token", {
      headers: FORM,
      body: form({
        service: env.loginServer,
        scope: "registry:catalog:*",
        refresh_token: "",
        grant_type: "password",
      }),
    });
    expect(anonymous.status).toBe(401);
  });

  it("pages _tags and _manifests by time with ACR's Link format, and filters tags by digest", async () => {
    const headers = bearerFor(env.emulator, "repository:team/web:metadata_read");
    const seen: string[] = [];
    let next: string | undefined =
      "/acr/v1/team%2Fweb/_manifests?api-version=2021-07-01&n=3&orderby=timedesc";
    const links: string[] = [];
    while (next !== undefined) {
      const res = await call("GET", next, { headers });
      expect(res.status).toBe(200);
      const body = res.json() as { manifests: { digest: string; lastUpdateTime: string }[] };
      seen.push(...body.manifests.map((m) => m.digest));
      const link = res.headers.link as string | undefined;
      if (link !== undefined) links.push(link);
      next = link === undefined ? undefined : /^<([^>]+)>/.exec(link)?.[1];
    }
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
    expect(links[0]).toMatch(
      /^<\/acr\/v1\/team\/web\/_manifests\?last=sha256:[0-9a-f]{64}&n=3&orderby=timedesc>; rel="next"$/,
    );

    const tags = await call("GET", "/acr/v1/team%2Fweb/_tags?orderby=timeasc&n=2", { headers });
    expect((tags.json() as { tags: { name: string }[] }).tags.map((t) => t.name)).toEqual(["1.0.0", "1.2.3"]);
    expect(tags.headers.link).toBe('</acr/v1/team/web/_tags?last=1.2.3&n=2&orderby=timeasc>; rel="next"');
    const latest = env.emulator.store.resolve("team/web", "latest")?.digest ?? "";
    const byDigest = await call("GET", `/acr/v1/team%2Fweb/_tags?digest=${latest}`, { headers });
    expect((byDigest.json() as { tags: { name: string }[] }).tags.map((t) => t.name)).toEqual([
      "1.11.0",
      "latest",
    ]);
  });

  it("enforces locks: deleteEnabled on tags, manifests and repositories, writeEnabled on tag moves", async () => {
    const e = env.emulator;
    const all = bearerFor(e, "repository:team/api:pull,push,delete,metadata_read,metadata_write");
    const patch = (path: string, body: object) =>
      call("PATCH", path, {
        headers: { ...all, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const locked = e.store.resolve("team/api", DEMO.locked.tag)?.digest ?? "";
    const refused = await call("DELETE", `/v2/team/api/manifests/${locked}`, { headers: all });
    expect(refused.status).toBe(405);
    expect(errorCode(refused.json())).toBe("REGISTRY_DISALLOWED_OPERATION");
    const repoDelete = await call("DELETE", "/acr/v1/team%2Fapi", { headers: all });
    expect(repoDelete.status).toBe(405);

    expect((await patch("/acr/v1/team%2Fapi/_tags/stable", { writeEnabled: false })).status).toBe(200);
    const moved = await call("PUT", "/v2/team/api/manifests/stable", {
      headers: { ...all, "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
      body: e.store.resolve("team/api", "latest")?.bytes ?? "",
    });
    expect(moved.status).toBe(405);
    expect(e.store.resolve("team/api", "stable")?.digest).toBe(e.store.resolve("team/api", "2.1.0")?.digest);
    const badBody = await patch("/acr/v1/team%2Fapi/_tags/stable", { writeEnabled: "no" });
    expect(badBody.status).toBe(400);
    const hidden = await patch("/acr/v1/team%2Fapi/_tags/stable", { listEnabled: false });
    expect(hidden.status).toBe(200);
    const listing = await call("GET", "/acr/v1/team%2Fapi/_tags", { headers: all });
    expect((listing.json() as { tags: { name: string }[] }).tags.map((t) => t.name)).not.toContain("stable");

    expect((await patch(`/acr/v1/team%2Fapi/_manifests/${locked}`, { deleteEnabled: true })).status).toBe(
      200,
    );
    await patch("/acr/v1/team%2Fapi/_tags/stable", { writeEnabled: true, listEnabled: true });
    const deleted = await call("DELETE", "/acr/v1/team%2Fapi?api-version=2021-07-01", { headers: all });
    expect(deleted.status).toBe(202);
    const result = deleted.json() as { manifestsDeleted: string[]; tagsDeleted: string[] };
    expect(result.manifestsDeleted).toContain(locked);
    expect(result.tagsDeleted).toContain("2.0.0");
    expect((await call("GET", "/acr/v1/team%2Fapi", { headers: all })).status).toBe(404);
  });

  it("throttles per identity with Retry-After, injects reproducible faults, and counts requests by route", async () => {
    const e = env.emulator;
    e.resetStats();
    e.setFaults({ rateLimits: { reads: 3 } });
    const a = bearerFor(e, "repository:team/web:pull");
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await call("GET", "/v2/team/web/tags/list", { headers: a })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const throttled = await call("GET", "/v2/team/web/tags/list", { headers: a });
    expect(errorCode(throttled.json())).toBe("TOOMANYREQUESTS");
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(0);
    const other = bearerFor(e, "repository:team/web:pull");
    // issueAccessToken uses one test subject, so a different identity needs a different login.
    expect((await call("GET", "/v2/team/web/tags/list", { headers: other })).status).toBe(429);
    const basic = await call(
      "GET",
      `/oauth2/token?service=${env.loginServer}&scope=repository:team/web:pull`,
      {
        headers: { Authorization: `Basic ${Buffer.from("dev:s3cret").toString("base64")}` },
      },
    );
    const dev = { Authorization: `Bearer ${(basic.json() as { token: string }).token}` };
    expect((await call("GET", "/v2/team/web/tags/list", { headers: dev })).status).toBe(200);
    e.setFaults({ rateLimits: {} });

    const run = async () => {
      e.setFaults({ failRates: { "429": 0.3, "500": 0.2 }, retryAfterSeconds: 4, randomSeed: 7 });
      const out: number[] = [];
      for (let i = 0; i < 20; i++)
        out.push((await call("GET", "/v2/team/web/tags/list", { headers: dev })).status);
      return out;
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(first).toContain(429);
    expect(first).toContain(500);
    expect(first).toContain(200);
    const injected = await (async () => {
      for (;;) {
        const res = await call("GET", "/v2/team/web/tags/list", { headers: dev });
        if (res.status === 429) return res;
      }
    })();
    expect(injected.headers["retry-after"]).toBe("4");
    e.setFaults({ failRates: {} });

    const stats = (await call("GET", "/_emulator/stats")).json() as ReturnType<typeof e.stats>;
    expect(stats.byRoute["GET /v2/{name}/tags/list"]).toBeGreaterThan(40);
    expect(stats.byRouteAndStatus["GET /v2/{name}/tags/list"]?.["429"]).toBeGreaterThan(0);
    expect(stats.faults.throttled).toBe(4);
    // /_emulator/* calls are not counted; the one Basic login is.
    expect(stats.byMethod.GET).toBe((stats.byRoute["GET /v2/{name}/tags/list"] ?? 0) + 1);
    expect(stats.byRoute["GET /oauth2/token"]).toBe(1);
    expect((await call("POST", "/_emulator/stats/reset")).status).toBe(204);
    expect(e.stats().total).toBe(0);
  });

  it("never fails with a 5xx or dies on random requests", async () => {
    const e = env.emulator;
    e.setFaults({ failRates: {}, rateLimits: {} });
    const token = bearerFor(
      e,
      "repository:team/web:pull,push,delete,metadata_read,metadata_write",
      "registry:catalog:*",
    );
    const segment = fc.oneof(
      fc.constantFrom(
        "v2",
        "acr",
        "v1",
        "team",
        "web",
        "manifests",
        "blobs",
        "uploads",
        "_tags",
        "_manifests",
        "tags",
        "list",
        "referrers",
        "_catalog",
        "latest",
        "%2F",
        "%",
        "sha256:",
        "..",
        "",
      ),
      fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"),
        fc.array(segment, { minLength: 1, maxLength: 7 }),
        fc.string({ maxLength: 40 }),
        fc.constantFrom(
          "",
          "?n=abc",
          "?last=%FF&n=2",
          "?digest=sha256:00",
          "?orderby=sideways",
          "?mount=x&from=Y",
        ),
        fc.constantFrom("bytes=0-", "bytes=9-1", "x", ""),
        async (method, segments, body, query, range) => {
          const res = await call(method, `/${segments.join("/")}${query}`, {
            headers: { ...token, Range: range, "Content-Range": range, "Content-Type": "application/json" },
            body,
          });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400 && method !== "HEAD" && res.body.length > 0) {
            expect(errorCode(res.json())).toEqual(expect.any(String));
          }
        },
      ),
      { numRuns: 150, seed: 1234 },
    );
    expect((await call("GET", "/v2/", { headers: token })).status).toBe(200);
  });
});
