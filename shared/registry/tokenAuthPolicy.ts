import {
  createPipelineRequest,
  type PipelinePolicy,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
  type SendRequest,
} from "@azure/core-rest-pipeline";
import { z } from "zod";
import { AuthenticationError } from "../errors/index.js";

/**
 * The Docker/OCI registry token flow as a core-rest-pipeline policy: send; on `401` with
 * `WWW-Authenticate: Bearer realm,service,scope` fetch a token from the realm (GET, with Basic
 * credentials when we have them, anonymously otherwise) and resend once; on `Basic` challenges send
 * the credentials directly. Used by the generic OCI adapter, and inside the ACR SDK's pipeline for
 * ACR admin users and repository-scoped tokens (ACR serves `GET /oauth2/token` with Basic auth for
 * `docker login`; the SDK itself only knows Entra tokens).
 */
export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

export interface TokenAuthPolicyOptions {
  readonly credentials?: BasicCredentials;
  /** Requests to these paths are auth calls themselves (ACR's /oauth2/...) and pass untouched. */
  readonly skipPathPrefixes?: readonly string[];
  readonly now?: () => number;
}

const TokenResponseSchema = z
  .object({
    token: z.string().optional(),
    access_token: z.string().optional(),
    expires_in: z.number().optional(),
  })
  .refine((value) => value.token !== undefined || value.access_token !== undefined, {
    message: "the token response has neither 'token' nor 'access_token'",
  });

interface CachedToken {
  readonly value: string;
  readonly expiresAt: number;
}

export const tokenAuthPolicyName = "acrStewardRegistryTokenAuth";

export function registryTokenAuthPolicy(options: TokenAuthPolicyOptions): PipelinePolicy {
  const now = options.now ?? Date.now;
  const tokensByScope = new Map<string, CachedToken>();
  /** Which scope a given (method, repository) needed last time, so the next call sends its token upfront. */
  const scopeByResource = new Map<string, string>();
  let useBasicDirectly = false;
  const basicHeader =
    options.credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString("base64")}`;

  const authorize = (request: PipelineRequest, resource: string) => {
    if (useBasicDirectly && basicHeader !== undefined) {
      request.headers.set("Authorization", basicHeader);
      return;
    }
    const scope = scopeByResource.get(resource);
    const token = scope === undefined ? undefined : tokensByScope.get(scope);
    if (token !== undefined && token.expiresAt > now())
      request.headers.set("Authorization", `Bearer ${token.value}`);
  };

  return {
    name: tokenAuthPolicyName,
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      const path = new URL(request.url).pathname;
      if (options.skipPathPrefixes?.some((prefix) => path.startsWith(prefix))) return next(request);
      const resource = `${accessClass(request.method)} ${resourceOf(path)}`;
      authorize(request, resource);
      const response = await next(request);
      if (response.status !== 401) return response;

      const challenge = parseChallenge(response.headers.get("www-authenticate") ?? "");
      if (challenge === undefined) return response;
      if (challenge.scheme === "basic") {
        if (basicHeader === undefined || useBasicDirectly) return response;
        useBasicDirectly = true;
        request.headers.set("Authorization", basicHeader);
        return next(request);
      }
      const realm = challenge.params.realm;
      if (realm === undefined) return response;
      const scope = challenge.params.scope ?? "";
      const token = await fetchToken(request, next, realm, challenge.params, basicHeader, now);
      tokensByScope.set(scope, token);
      scopeByResource.set(resource, scope);
      request.headers.set("Authorization", `Bearer ${token.value}`);
      // A body stream was consumed by the first attempt; callers pass factories, so resend is safe.
      return next(request);
    },
  };
}

async function fetchToken(
  original: PipelineRequest,
  next: SendRequest,
  realm: string,
  params: Readonly<Record<string, string>>,
  basicHeader: string | undefined,
  now: () => number,
): Promise<CachedToken> {
  const realmUrl = new URL(realm, original.url);
  const registryUrl = new URL(original.url);
  if (realmUrl.protocol !== "https:" && realmUrl.origin !== registryUrl.origin) {
    throw new AuthenticationError(
      `the registry ${registryUrl.host} sent its token realm to a plain-http address (${realmUrl.origin}); refusing to send credentials there`,
    );
  }
  if (params.service !== undefined) realmUrl.searchParams.set("service", params.service);
  for (const scope of (params.scope ?? "").split(" ").filter((s) => s !== "")) {
    realmUrl.searchParams.append("scope", scope);
  }
  const tokenRequest = createPipelineRequest({
    url: realmUrl.toString(),
    method: "GET",
    ...(original.abortSignal === undefined ? {} : { abortSignal: original.abortSignal }),
    allowInsecureConnection: original.allowInsecureConnection ?? false,
  });
  if (original.tlsSettings !== undefined) tokenRequest.tlsSettings = original.tlsSettings;
  tokenRequest.headers.set("Accept", "application/json");
  if (basicHeader !== undefined) tokenRequest.headers.set("Authorization", basicHeader);
  const response = await next(tokenRequest);
  if (response.status === 401 || response.status === 403) {
    throw new AuthenticationError(
      `the registry ${registryUrl.host} refused the ${basicHeader === undefined ? "anonymous" : "username/password"} login (${response.status}) at its token endpoint. Check the username and password (ACR admin user or repository-scoped token, e.g. ACR_STEWARD_USERNAME/ACR_STEWARD_PASSWORD), that the token is enabled and that its scope map covers this repository.`,
      { context: { registry: registryUrl.host, status: response.status } },
    );
  }
  if (response.status !== 200) {
    // Let the caller's error translation handle 429/5xx of the token endpoint like any other answer.
    throw new RestError(`token endpoint answered ${response.status}`, {
      statusCode: response.status,
      response,
      request: tokenRequest,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(response.bodyAsText ?? "");
  } catch (cause) {
    throw new AuthenticationError(`the token endpoint of ${registryUrl.host} did not answer JSON`, { cause });
  }
  const parsed = TokenResponseSchema.safeParse(json);
  if (!parsed.success) {
    throw new AuthenticationError(`the token endpoint of ${registryUrl.host} answered without a token`);
  }
  const value = parsed.data.access_token ?? parsed.data.token ?? "";
  // Docker's token spec: expires_in defaults to 60 s; renew a little early.
  const lifetimeMs = (parsed.data.expires_in ?? 60) * 1000;
  return { value, expiresAt: now() + Math.max(0, lifetimeMs - 10_000) };
}

/** `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(
  header: string,
): { scheme: "bearer" | "basic"; params: Readonly<Record<string, string>> } | undefined {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match?.[1]) return undefined;
  const scheme = match[1].toLowerCase();
  if (scheme !== "bearer" && scheme !== "basic") return undefined;
  const params: Record<string, string> = {};
  for (const pair of (match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)) {
    if (pair[1] !== undefined && pair[2] !== undefined) params[pair[1]] = pair[2];
  }
  return { scheme, params };
}

function accessClass(method: string): string {
  if (method === "GET" || method === "HEAD") return "read";
  return method === "DELETE" ? "delete" : "write";
}

function resourceOf(path: string): string {
  return repositoryOfPath(path) ?? path;
}

/** The repository a `/v2/<name>/...` or `/acr/v1/<name>/...` path is about; undefined for catalogs and auth. */
export function repositoryOfPath(path: string): string | undefined {
  const v2 = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//.exec(path);
  if (v2?.[1]) return decodeURIComponent(v2[1]);
  if (path.startsWith("/acr/v1/_catalog")) return undefined;
  const acr = /^\/acr\/v1\/(.+?)(\/_(tags|manifests)(\/|$|\?)|$|\?)/.exec(path);
  if (acr?.[1]) return decodeURIComponent(acr[1]);
  return undefined;
}

/**
 * A cross-repository mount needs pull access to the source repository as well, but registries
 * challenge for the target only. This policy sits next to the wire and adds the source's pull scope to
 * the challenge of a mount request, so that whichever auth policy answers it (the SDK's or ours) asks
 * for a token that covers both.
 */
export function mountScopePolicy(): PipelinePolicy {
  return {
    name: "acrStewardMountScope",
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      const response = await next(request);
      if (response.status !== 401 || request.method !== "POST") return response;
      const url = new URL(request.url);
      const from = url.searchParams.get("from");
      if (!url.searchParams.get("mount") || !from) return response;
      const header = response.headers.get("www-authenticate");
      if (header === undefined || !/scope="/.test(header)) return response;
      const extra = `repository:${from}:pull`;
      response.headers.set(
        "www-authenticate",
        header.replace(/scope="([^"]*)"/, (_match, scope: string) =>
          scope.includes(extra) ? `scope="${scope}"` : `scope="${scope} ${extra}"`,
        ),
      );
      return response;
    },
  };
}
