import http from "node:http";
import https from "node:https";

/**
 * A deliberately low-level /v2 client for fidelity tests: it sends exactly the request it is given
 * and returns status, headers and body untouched, so two registries can be compared byte for byte.
 * With credentials it answers Bearer challenges the way docker/skopeo do (GET the realm with Basic
 * auth and the challenged scope). The last token is reused until a request is challenged again.
 */

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RawRequest {
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /**
   * Scopes to ask for besides the challenged one, as docker and skopeo do for a cross-repository
   * mount (`repository:<from>:pull`): the challenge names only the target repository.
   */
  readonly extraScopes?: readonly string[];
}

export interface RawRegistryClientOptions {
  /** e.g. https://127.0.0.1:8443 */
  readonly baseUrl: string;
  readonly ca?: string;
  readonly credentials?: { readonly username: string; readonly password: string };
}

const MAX_REDIRECTS = 3;

export class RawRegistryClient {
  private lastToken: string | undefined;

  constructor(private readonly options: RawRegistryClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  /** `target` is a path (`/v2/...`) or an absolute URL such as an upload Location. */
  async send(method: string, target: string, request: RawRequest = {}): Promise<RawResponse> {
    const url = new URL(target, this.options.baseUrl);
    let response = await this.exchange(method, url, request, this.lastToken);
    if (response.status === 401 && this.options.credentials !== undefined) {
      const challenge = parseBearerChallenge(String(response.headers["www-authenticate"] ?? ""));
      if (challenge !== undefined) {
        const fresh = await this.token(challenge, request.extraScopes ?? []);
        response = await this.exchange(method, url, request, fresh);
      }
    }
    return response;
  }

  private async exchange(
    method: string,
    url: URL,
    request: RawRequest,
    token: string | undefined,
  ): Promise<RawResponse> {
    let current = url;
    let authorization = token === undefined ? undefined : `Bearer ${token}`;
    for (let hop = 0; ; hop += 1) {
      const response = await rawHttp(method, current, {
        headers: { ...(request.headers ?? {}), ...(authorization === undefined ? {} : { authorization }) },
        ...(request.body !== undefined ? { body: request.body } : {}),
        ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      });
      const location = response.headers.location;
      const redirect =
        (method === "GET" || method === "HEAD") && [301, 302, 303, 307, 308].includes(response.status);
      if (!redirect || location === undefined || hop >= MAX_REDIRECTS) return response;
      // Like the Azure SDK and docker: follow blob redirects, without the registry's bearer token.
      current = new URL(location, current);
      authorization = undefined;
    }
  }

  private async token(challenge: BearerChallenge, extraScopes: readonly string[]): Promise<string> {
    const realm = new URL(challenge.realm);
    if (challenge.service !== undefined) realm.searchParams.set("service", challenge.service);
    for (const scope of [...(challenge.scope === undefined ? [] : [challenge.scope]), ...extraScopes]) {
      realm.searchParams.append("scope", scope);
    }
    const { username, password } = this.options.credentials ?? { username: "", password: "" };
    const response = await rawHttp("GET", realm, {
      headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` },
      ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
    });
    if (response.status !== 200) {
      throw new Error(
        `token request to ${realm.pathname} failed: HTTP ${response.status} ${response.body.toString()}`,
      );
    }
    const parsed = JSON.parse(response.body.toString("utf8")) as { token?: string; access_token?: string };
    const token = parsed.access_token ?? parsed.token;
    if (token === undefined) throw new Error("token response has neither access_token nor token");
    this.lastToken = token;
    return token;
  }
}

interface BearerChallenge {
  readonly realm: string;
  readonly service?: string;
  readonly scope?: string;
}

export function parseBearerChallenge(header: string): BearerChallenge | undefined {
  if (!/^Bearer\s/i.test(header)) return undefined;
  const values = new Map<string, string>();
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) values.set(match[1] ?? "", match[2] ?? "");
  const realm = values.get("realm");
  if (realm === undefined) return undefined;
  const service = values.get("service");
  const scope = values.get("scope");
  return { realm, ...(service !== undefined ? { service } : {}), ...(scope !== undefined ? { scope } : {}) };
}

function rawHttp(
  method: string,
  url: URL,
  options: { headers: Record<string, string>; body?: Buffer | string; ca?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string> = { ...options.headers };
    if (body !== undefined) headers["content-length"] = String(body.length);
    const isHttps = url.protocol === "https:";
    const request = (isHttps ? https : http).request(
      url,
      { method, headers, agent: false, ...(isHttps && options.ca !== undefined ? { ca: options.ca } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}
