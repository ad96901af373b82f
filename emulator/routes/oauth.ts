import {
  ANONYMOUS_SUBJECT,
  credentialsMatch,
  identityFromAadToken,
  parseBasicAuth,
  parseScopes,
  restrictToAnonymous,
  type TokenAuthority,
} from "../auth.js";
import { RegistryError, RegistryErrorCode } from "../errors.js";
import { header, jsonReply, type Reply, type RequestContext } from "../http.js";
import type { RouteMatch } from "./match.js";

/**
 * ACR's token endpoints: `POST /oauth2/exchange` (AAD token → refresh token), `POST /oauth2/token`
 * (refresh token or anonymous → access token) and `GET /oauth2/token` (docker-login style Basic auth).
 */

export interface OAuthDeps {
  readonly authority: TokenAuthority;
  readonly username?: string;
  readonly password?: string;
  readonly anonymousPull: boolean;
  /** host:port names clients may call us by (the `service` they send must be one of them). */
  readonly serviceNames: ReadonlySet<string>;
}

function unauthorized(message: string): RegistryError {
  return new RegistryError(401, RegistryErrorCode.unauthorized, message);
}

function badRequest(message: string): RegistryError {
  return new RegistryError(400, RegistryErrorCode.badRequest, message);
}

function formOf(ctx: RequestContext): URLSearchParams {
  const text = ctx.body.toString("utf8");
  // api-version and friends may sit in the query; the form wins on conflicts.
  const merged = new URLSearchParams(ctx.query);
  for (const [key, value] of new URLSearchParams(text)) {
    if (merged.has(key) && key !== "scope") merged.delete(key);
    merged.append(key, value);
  }
  return merged;
}

function requireService(params: URLSearchParams, deps: OAuthDeps): string {
  const service = params.get("service");
  if (service === null || service === "") throw badRequest("the 'service' parameter is required");
  if (!deps.serviceNames.has(service.toLowerCase())) throw unauthorized(`unknown service '${service}'`);
  return service;
}

export function handleOAuth(match: RouteMatch, ctx: RequestContext, deps: OAuthDeps): Reply {
  if (match.id === "oauth.exchange") {
    if (ctx.method !== "POST") throw new RegistryError(405, RegistryErrorCode.unsupported, "use POST");
    return exchange(formOf(ctx), deps);
  }
  if (ctx.method === "POST") return tokenFromForm(formOf(ctx), deps);
  if (ctx.method === "GET") return tokenFromLogin(ctx, deps);
  throw new RegistryError(405, RegistryErrorCode.unsupported, "use GET or POST");
}

function exchange(form: URLSearchParams, deps: OAuthDeps): Reply {
  const grantType = form.get("grant_type");
  const service = requireService(form, deps);
  let aadToken: string | null;
  if (grantType === "access_token" || grantType === "access_token_refresh_token") {
    aadToken = form.get("access_token");
  } else if (grantType === "refresh_token") {
    aadToken = form.get("refresh_token");
  } else {
    throw badRequest("grant_type must be access_token, access_token_refresh_token or refresh_token");
  }
  if (aadToken === null || aadToken.trim() === "") throw unauthorized("an AAD token is required");
  const mine = deps.authority.verify(aadToken, "refresh");
  if (mine !== undefined)
    return jsonReply(200, { refresh_token: deps.authority.issueRefreshToken(mine.sub, service) });
  const identity = identityFromAadToken(aadToken);
  if (identity.expired) throw unauthorized("the AAD token has expired");
  return jsonReply(200, { refresh_token: deps.authority.issueRefreshToken(identity.subject, service) });
}

function tokenFromForm(form: URLSearchParams, deps: OAuthDeps): Reply {
  const service = requireService(form, deps);
  const grantType = form.get("grant_type");
  const scopes = parseScopes(form.getAll("scope"));
  if (grantType === "refresh_token") {
    const refresh = form.get("refresh_token") ?? "";
    const claims = refresh === "" ? undefined : deps.authority.verify(refresh, "refresh");
    if (claims === undefined) throw unauthorized("the refresh token is invalid or expired");
    const issued = deps.authority.issueAccessToken(claims.sub, service, scopes);
    return jsonReply(200, { access_token: issued.token });
  }
  if (grantType === "password") {
    const username = form.get("username");
    const password = form.get("password");
    if (username !== null && username !== "") {
      if (!credentialsMatch(deps, { username, password: password ?? "" }))
        throw unauthorized("invalid credentials");
      const issued = deps.authority.issueAccessToken(`user:${username}`, service, scopes);
      return jsonReply(200, { access_token: issued.token });
    }
    if ((form.get("refresh_token") ?? "") !== "")
      throw unauthorized("grant_type=password takes no refresh token");
    if (!deps.anonymousPull) throw unauthorized("anonymous pull is not enabled on this registry");
    const issued = deps.authority.issueAccessToken(
      ANONYMOUS_SUBJECT,
      service,
      restrictToAnonymous(scopes),
      true,
    );
    return jsonReply(200, { access_token: issued.token });
  }
  throw badRequest("grant_type must be refresh_token or password");
}

function tokenFromLogin(ctx: RequestContext, deps: OAuthDeps): Reply {
  const service = requireService(ctx.query, deps);
  const scopes = parseScopes(ctx.query.getAll("scope"));
  const authorization = header(ctx, "authorization");
  let issued: { token: string; expiresIn: number; issuedAt: string };
  if (authorization === undefined || authorization === "") {
    if (!deps.anonymousPull) throw unauthorized("authentication required");
    issued = deps.authority.issueAccessToken(ANONYMOUS_SUBJECT, service, restrictToAnonymous(scopes), true);
  } else {
    const basic = parseBasicAuth(authorization);
    if (basic === undefined) throw unauthorized("Basic credentials required");
    if (deps.username === undefined) throw unauthorized("this registry has no username/password login");
    if (!credentialsMatch(deps, basic)) throw unauthorized("invalid credentials");
    issued = deps.authority.issueAccessToken(`user:${basic.username}`, service, scopes);
  }
  return jsonReply(200, {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt,
  });
}
