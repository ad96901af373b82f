import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { ContainerRegistryClient, ContainerRegistryContentClient } from "@azure/container-registry";
import {
  createDefaultHttpClient,
  createPipelineFromOptions,
  type HttpClient,
  type PipelinePolicy,
  type PipelineRequest,
  type PipelineResponse,
  type TlsSettings,
} from "@azure/core-rest-pipeline";
import { ConfigurationError, InvalidReferenceError, StewardError } from "../errors/index.js";
import { LoginServerSchema } from "../oci/reference.js";
import { noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { AcrRegistry } from "./acrRegistry.js";
import { type AuditSink, JsonLinesAuditSink } from "./audit.js";
import { LruCache } from "./cache.js";
import { type RegistryCredentials, registryTokenFlowCredential, resolveCredentials } from "./credentials.js";
import { type ContentCaches, createContentCaches, DistributionApi } from "./distributionApi.js";
import { RegistryHttp, type RequestSender } from "./http.js";
import { AdaptiveLimiter, sleep } from "./limiter.js";
import { OciRegistry } from "./ociRegistry.js";
import type { Registry, RegistryKind } from "./registry.js";
import { type CallEnvironment, DEFAULT_RETRY_POLICY, type RetryPolicy } from "./reliability.js";
import {
  mountScopePolicy,
  parseChallenge,
  registryTokenAuthPolicy,
  repositoryOfPath,
} from "./tokenAuthPolicy.js";

/**
 * Opens a registry: checks the host against the allow-list, picks the adapter (ACR when the registry
 * serves `/acr/v1/`, the generic OCI adapter otherwise), and wires credentials, TLS, limits, retries,
 * caches, audit and telemetry. Limiters and caches are shared by everything that talks to the same
 * login server in this process, so parallel work backs off together.
 */
export interface OpenRegistryOptions {
  /** `host[:port]`, or `https://host[:port]`; `http://` only for loopback test registries. */
  readonly registry: string;
  readonly credentials: RegistryCredentials;
  /** Login servers we may talk to (ACR_STEWARD_REGISTRIES, plus whatever the user named on the CLI). */
  readonly allowList: readonly string[];
  /** PEM of a private CA to trust in addition to the system ones (the emulator's). */
  readonly caCertPem?: string;
  /** Entra audience of registry tokens (sovereign clouds); default https://containerregistry.azure.net. */
  readonly audience?: string;
  /** Skip detection. */
  readonly kind?: RegistryKind;
  readonly telemetry?: Telemetry;
  readonly audit?: AuditSink;
  /** Who is acting, for audit records. */
  readonly actor?: string;
  readonly retryPolicy?: Partial<RetryPolicy>;
  readonly concurrency?: { readonly initial?: number; readonly max?: number };
  readonly pageSize?: number;
  /** Replaces the HTTP client (tests only); TLS and limits still apply. */
  readonly httpClient?: HttpClient;
}

export interface RegistryEndpoint {
  readonly loginServer: string;
  readonly baseUrl: string;
}

/** Splits `--registry` into login server and base URL; refuses anything but a bare host[:port] or origin. */
export function parseRegistryEndpoint(value: string): RegistryEndpoint {
  const trimmed = value.trim().replace(/\/+$/, "");
  let scheme = "https";
  let host = trimmed;
  const match = /^(https?):\/\/([^/]+)$/i.exec(trimmed);
  if (match?.[1] && match[2]) {
    scheme = match[1].toLowerCase();
    host = match[2];
  } else if (trimmed.includes("/")) {
    throw new InvalidReferenceError(
      `registry '${value}' must be a login server (host or host:port) or https://host[:port]`,
    );
  }
  const parsed = LoginServerSchema.safeParse(host);
  if (!parsed.success)
    throw new InvalidReferenceError(`registry '${value}' is not a valid login server (host or host:port)`);
  const loginServer = parsed.data;
  if (scheme === "http" && !isLoopback(loginServer)) {
    throw new InvalidReferenceError(
      `registry '${value}': plain http is only allowed for loopback test registries; use https`,
    );
  }
  return { loginServer, baseUrl: `${scheme}://${loginServer}` };
}

/** ACR_STEWARD_REGISTRIES as login servers; bad entries are a configuration error naming them. */
export function parseAllowList(value: string | undefined): string[] {
  if (value === undefined || value.trim() === "") return [];
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      try {
        return parseRegistryEndpoint(entry).loginServer;
      } catch (cause) {
        throw new ConfigurationError(
          `ACR_STEWARD_REGISTRIES: '${entry}' is not a login server (host or host:port)`,
          {
            cause,
          },
        );
      }
    });
}

export function assertAllowed(loginServer: string, allowList: readonly string[]): void {
  if (!allowList.map((entry) => entry.toLowerCase()).includes(loginServer.toLowerCase())) {
    throw new ConfigurationError(
      `registry ${loginServer} is not in the allow-list (ACR_STEWARD_REGISTRIES=${allowList.join(",") || "<empty>"}); acr-steward only talks to registries listed there`,
    );
  }
}

interface SharedState {
  readonly limiter: AdaptiveLimiter;
  readonly caches: ContentCaches;
}

/** Per login server: one limiter (so throttling slows everyone down) and one content cache. */
const shared = new LruCache<string, SharedState>({ maxEntries: 64 });
const tlsByPem = new Map<string, TlsSettings>();
/** What a login server turned out to be; kept for a while only (a port can be reused by another registry). */
const detectedKinds = new LruCache<string, RegistryKind>({ maxEntries: 64, ttlMs: 10 * 60 * 1000 });

export async function openRegistry(options: OpenRegistryOptions): Promise<Registry> {
  const endpoint = parseRegistryEndpoint(options.registry);
  assertAllowed(endpoint.loginServer, options.allowList);
  const credentials = resolveCredentials(options.credentials);
  const telemetry = options.telemetry ?? noTelemetry;
  const audit = options.audit ?? new JsonLinesAuditSink();
  const actor = options.actor ?? credentials.description;
  const tlsSettings = options.caCertPem === undefined ? undefined : tlsFor(options.caCertPem);

  let state = shared.get(endpoint.loginServer);
  if (state === undefined) {
    state = {
      limiter: new AdaptiveLimiter({
        initialConcurrency: options.concurrency?.initial ?? 8,
        maxConcurrency: options.concurrency?.max ?? 32,
      }),
      caches: createContentCaches(),
    };
    shared.set(endpoint.loginServer, state);
  }
  const environment: CallEnvironment = {
    policy: { ...DEFAULT_RETRY_POLICY, ...options.retryPolicy },
    limiter: state.limiter,
    telemetry,
    random: Math.random,
    sleep,
  };
  const httpClient = options.httpClient ?? createDefaultHttpClient();

  const kind =
    options.kind ??
    detectedKinds.get(endpoint.baseUrl) ??
    (await detectKind(endpoint, environment, httpClient, tlsSettings));
  detectedKinds.set(endpoint.baseUrl, kind);

  if (kind === "oci") {
    const tokenPolicy = registryTokenAuthPolicy(
      credentials.kind === "basic" ? { credentials: credentials.basic } : {},
    );
    if (credentials.kind === "entra") {
      throw new ConfigurationError(
        `${endpoint.loginServer} is not an Azure Container Registry (it does not serve /acr/v1/), so Entra credentials do not apply: pass --username/--password or --anonymous`,
      );
    }
    const pipeline = createPipelineFromOptions({
      retryOptions: { maxRetries: 0 },
      redirectOptions: { allowCrossOriginRedirects: true },
      userAgentOptions: { userAgentPrefix: "acr-steward" },
    });
    pipeline.addPolicy(tokenPolicy, { phase: "Sign" });
    pipeline.addPolicy(mountScopePolicy(), { afterPhase: "Sign" });
    const send: RequestSender = (request) => pipeline.sendRequest(httpClient, request);
    const api = new DistributionApi(
      new RegistryHttp(endpoint.baseUrl, send, environment, tlsSettings),
      endpoint.loginServer,
      state.caches,
    );
    return new OciRegistry({
      loginServer: endpoint.loginServer,
      api,
      audit,
      actor,
      ...(options.pageSize === undefined ? {} : { defaultPageSize: options.pageSize }),
    });
  }

  if (endpoint.baseUrl.startsWith("http://")) {
    throw new ConfigurationError(
      "the Azure SDK only talks to registries over https; serve the registry with TLS",
    );
  }
  const additionalPolicies: { policy: PipelinePolicy; position: "perCall" | "perRetry" }[] = [];
  if (credentials.kind !== "entra") {
    additionalPolicies.push({
      policy: registryTokenAuthPolicy({
        ...(credentials.kind === "basic" ? { credentials: credentials.basic } : {}),
        skipPathPrefixes: ["/oauth2/"],
      }),
      position: "perRetry",
    });
  }
  additionalPolicies.push({ policy: mountScopePolicy(), position: "perRetry" });
  const clientOptions = {
    ...(options.audience === undefined ? {} : { audience: options.audience }),
    // Retries, back-off and limits are ours (callRegistry), so that every call is counted and shares the limiter.
    retryOptions: { maxRetries: 0 },
    ...(tlsSettings === undefined ? {} : { tlsOptions: tlsSettings }),
    ...(options.httpClient === undefined ? {} : { httpClient: options.httpClient }),
    additionalPolicies,
    userAgentOptions: { userAgentPrefix: "acr-steward" },
  };
  const client =
    credentials.kind === "entra"
      ? new ContainerRegistryClient(endpoint.baseUrl, credentials.credential, clientOptions)
      : new ContainerRegistryClient(endpoint.baseUrl, clientOptions);
  const contentCredential =
    credentials.kind === "entra" ? credentials.credential : registryTokenFlowCredential;
  const contentClients = new LruCache<string, ContainerRegistryContentClient>({ maxEntries: 256 });
  const contentClient = (repository: string) => {
    let found = contentClients.get(repository);
    if (found === undefined) {
      found = new ContainerRegistryContentClient(
        endpoint.baseUrl,
        repository,
        contentCredential,
        clientOptions,
      );
      contentClients.set(repository, found);
    }
    return found;
  };
  // Raw requests about one repository go through that repository's content client, whose SDK token
  // cache then holds that repository's scope (one shared cache would be re-challenged at every switch).
  const registrySender = sdkPipelineSender(client);
  const send: RequestSender = (request) => {
    const repository = repositoryOfPath(new URL(request.url).pathname);
    return repository === undefined
      ? registrySender(request)
      : sdkPipelineSender(contentClient(repository))(request);
  };
  const api = new DistributionApi(
    new RegistryHttp(endpoint.baseUrl, send, environment, tlsSettings),
    endpoint.loginServer,
    state.caches,
  );
  return new AcrRegistry({
    loginServer: endpoint.loginServer,
    client,
    contentClient,
    api,
    environment,
    audit,
    actor,
    ...(options.pageSize === undefined ? {} : { defaultPageSize: options.pageSize }),
  });
}

/**
 * The SDK client's own authenticated pipeline, for requests the SDK has no method for. The SDK keeps
 * it on a private field of both clients (a core-client `ServiceClient` with a public
 * `sendRequest`); we check its shape so that an SDK upgrade that moves it fails loudly here.
 */
export function sdkPipelineSender(
  client: ContainerRegistryClient | ContainerRegistryContentClient,
): RequestSender {
  const inner = (client as unknown as { client?: { sendRequest?: unknown } }).client;
  if (inner === undefined || typeof inner.sendRequest !== "function") {
    throw new StewardError(
      "@azure/container-registry no longer exposes its pipeline the way acr-steward expects (pinned 1.1.2); HEAD, mount and referrers calls cannot be authenticated",
    );
  }
  const sendRequest = inner.sendRequest as (request: PipelineRequest) => Promise<PipelineResponse>;
  return (request) => sendRequest.call(inner, request);
}

/**
 * ACR or not: `*.azurecr.io` (and sovereign suffixes) are ACR; otherwise one unauthenticated GET of
 * `/acr/v1/_catalog`: ACR answers with a listing or with a Bearer challenge whose realm is its own
 * `/oauth2/token`; other registries answer 404 (or something that is not that).
 */
export async function detectKind(
  endpoint: RegistryEndpoint,
  environment: CallEnvironment,
  httpClient: HttpClient,
  tlsSettings: TlsSettings | undefined,
): Promise<RegistryKind> {
  if (/\.azurecr\.(io|cn|us|de)$/i.test(endpoint.loginServer.replace(/:\d+$/, ""))) return "acr";
  const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 0 } });
  const http = new RegistryHttp(
    endpoint.baseUrl,
    (request) => pipeline.sendRequest(httpClient, request),
    environment,
    tlsSettings,
  );
  const response = await http.request(
    {
      method: "GET",
      path: "/acr/v1/_catalog?n=1",
      headers: { Accept: "application/json" },
      accept: [200, 401, 403, 404, 405, 400],
    },
    { registry: endpoint.loginServer, operation: "detect the registry type" },
  );
  if (response.status === 200) {
    try {
      const body = JSON.parse(response.bodyAsText ?? "") as { repositories?: unknown };
      return Array.isArray(body.repositories) ? "acr" : "oci";
    } catch {
      return "oci";
    }
  }
  if (response.status === 401) {
    const challenge = parseChallenge(response.headers.get("www-authenticate") ?? "");
    const realm = challenge?.params.realm;
    if (challenge?.scheme === "bearer" && realm !== undefined) {
      try {
        const url = new URL(realm);
        return url.host.toLowerCase() === endpoint.loginServer && url.pathname === "/oauth2/token"
          ? "acr"
          : "oci";
      } catch {
        return "oci";
      }
    }
  }
  return "oci";
}

function tlsFor(pem: string): TlsSettings {
  // One settings object per CA: the HTTP client caches its agents by this object's identity.
  let settings = tlsByPem.get(pem);
  if (settings === undefined) {
    settings = { ca: [...rootCertificates, pem] };
    tlsByPem.set(pem, settings);
  }
  return settings;
}

export function readCaCertificate(file: string): string {
  try {
    const pem = readFileSync(file, "utf8");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new ConfigurationError(`--ca-cert ${file} is not a PEM certificate`);
    }
    return pem;
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(`--ca-cert ${file} cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function isLoopback(loginServer: string): boolean {
  const host = loginServer.replace(/:\d+$/, "");
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]";
}
