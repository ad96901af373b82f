import { rootCertificates } from "node:tls";
import type { TokenCredential } from "@azure/core-auth";
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
  type TlsSettings,
} from "@azure/core-rest-pipeline";
import { z } from "zod";
import {
  AuthenticationError,
  AuthorizationError,
  ConfigurationError,
  ensureError,
  ThrottledError,
  UnavailableError,
} from "../../errors/index.js";
import type { ScanCredentialsProvider } from "../ports.js";
import { redactSecrets } from "../redact.js";
import { acrRefreshTokenCredentials, type RegistryCredentials } from "../scanRunner.js";

/**
 * Mints, per target registry, a short-lived ACR refresh token for the worker's own identity: an
 * Entra token for the registry audience is exchanged at `POST https://<registry>/oauth2/exchange`
 * (grant_type=access_token). Trivy then logs in with the fixed ACR user name and the refresh token
 * as password. Hosts come from the allow-list only; tokens are never logged or put in an error.
 */

export interface AcrRefreshTokenMinterOptions {
  /** The worker's identity (managed identity in Azure, a fake in tests). */
  readonly credential: TokenCredential;
  /** Login servers we may mint for (ACR_STEWARD_REGISTRIES). */
  readonly allowList: readonly string[];
  /** Entra audience of registry tokens (ACR_STEWARD_ACR_AUDIENCE). */
  readonly audience?: string;
  /** PEM of a private CA to trust (the emulator's). */
  readonly caCertPem?: string;
  readonly httpClient?: HttpClient;
  /** Refresh tokens are reused until this long before they expire. Default 5 minutes. */
  readonly renewBeforeExpiryMs?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

const ExchangeResponseSchema = z.object({ refresh_token: z.string().min(1) });

const DEFAULT_AUDIENCE = "https://containerregistry.azure.net";
/** Without a readable `exp`, a token is reused for this long at most. */
const UNKNOWN_EXPIRY_REUSE_MS = 10 * 60_000;

export class AcrRefreshTokenMinter implements ScanCredentialsProvider {
  readonly #options: AcrRefreshTokenMinterOptions;
  readonly #http: HttpClient;
  readonly #allowed: ReadonlySet<string>;
  readonly #cache = new Map<string, { token: string; reuseUntil: number }>();
  /** One object for the minter's lifetime: the HTTP client keeps its agents per settings object. */
  readonly #tlsSettings: TlsSettings | undefined;

  constructor(options: AcrRefreshTokenMinterOptions) {
    this.#options = options;
    this.#http = options.httpClient ?? createDefaultHttpClient();
    this.#allowed = new Set(options.allowList.map((entry) => entry.toLowerCase()));
    this.#tlsSettings =
      options.caCertPem === undefined ? undefined : { ca: [...rootCertificates, options.caCertPem] };
  }

  async credentialsFor(registry: string, _repository: string): Promise<RegistryCredentials> {
    const loginServer = registry.toLowerCase();
    if (!this.#allowed.has(loginServer)) {
      throw new ConfigurationError(
        `registry ${loginServer} is not in the allow-list (ACR_STEWARD_REGISTRIES); no token is minted for it`,
      );
    }
    const now = (this.#options.now ?? Date.now)();
    const cached = this.#cache.get(loginServer);
    if (cached !== undefined && cached.reuseUntil > now) return acrRefreshTokenCredentials(cached.token);

    const token = await this.#exchange(loginServer);
    const expiresAt = jwtExpiryMs(token);
    const renewBefore = this.#options.renewBeforeExpiryMs ?? 5 * 60_000;
    const reuseUntil = expiresAt === undefined ? now + UNKNOWN_EXPIRY_REUSE_MS : expiresAt - renewBefore;
    if (reuseUntil > now) this.#cache.set(loginServer, { token, reuseUntil });
    return acrRefreshTokenCredentials(token);
  }

  async #exchange(loginServer: string): Promise<string> {
    const audience = (this.#options.audience ?? DEFAULT_AUDIENCE).replace(/\/+$/, "");
    let aadToken: string;
    try {
      const access = await this.#options.credential.getToken(`${audience}/.default`);
      if (access === null || access.token === "") throw new Error("the credential returned no token");
      aadToken = access.token;
    } catch (error) {
      throw new AuthenticationError(
        `could not get an Entra token for ${audience}: ${redactSecrets(ensureError(error).message)}`,
        { cause: error },
      );
    }

    const request = createPipelineRequest({
      url: `https://${loginServer}/oauth2/exchange?api-version=2021-07-01`,
      method: "POST",
      headers: createHttpHeaders({
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      }),
      body: new URLSearchParams({
        grant_type: "access_token",
        service: loginServer,
        access_token: aadToken,
      }).toString(),
      timeout: this.#options.timeoutMs ?? 30_000,
    });
    // createPipelineRequest does not copy tlsSettings; the HTTP client reads them from the request.
    if (this.#tlsSettings !== undefined) request.tlsSettings = this.#tlsSettings;
    const where = `token exchange at ${loginServer}`;
    let status: number;
    let bodyText: string;
    let retryAfter: string | undefined;
    try {
      const response = await this.#http.sendRequest(request);
      status = response.status;
      bodyText = response.bodyAsText ?? "";
      retryAfter = response.headers.get("retry-after");
    } catch (error) {
      throw new UnavailableError(
        `${where} failed: ${redactSecrets(ensureError(error).message, [aadToken])}`,
        {
          cause: error,
        },
      );
    }
    if (status === 200) {
      let parsed: z.infer<typeof ExchangeResponseSchema>;
      try {
        parsed = ExchangeResponseSchema.parse(JSON.parse(bodyText));
      } catch {
        throw new UnavailableError(`${where}: the answer holds no refresh_token`);
      }
      return parsed.refresh_token;
    }
    // The registry's own error text helps (e.g. "identity not authorized"); it holds no token of ours.
    const detail = redactSecrets(bodyText.slice(0, 300), [aadToken]);
    const message = `${where} answered ${status}${detail ? `: ${detail}` : ""}`;
    if (status === 401) throw new AuthenticationError(message);
    if (status === 403) throw new AuthorizationError(message);
    if (status === 429) {
      const seconds = Number(retryAfter);
      throw new ThrottledError(message, Number.isFinite(seconds) ? { retryAfterMs: seconds * 1000 } : {});
    }
    throw new UnavailableError(message);
  }
}

/** The `exp` claim of a JWT in milliseconds, or undefined when the token is not a readable JWT. */
export function jwtExpiryMs(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
