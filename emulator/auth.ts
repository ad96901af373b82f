import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";

/**
 * ACR-style token auth: the emulator signs its own refresh and access tokens (HS256 JWTs with a
 * per-process secret, so forged or foreign tokens fail), access tokens carry docker-style `access`
 * entries, and each route names the one scope it needs.
 */

export type ResourceType = "repository" | "registry";

export interface AccessEntry {
  readonly type: ResourceType;
  readonly name: string;
  readonly actions: readonly string[];
}

/** What a route needs: one action on one resource. */
export interface AccessRequirement {
  readonly type: ResourceType;
  readonly name: string;
  readonly action: string;
  /** The actions the challenge asks for (a push challenge asks for `pull,push` like real registries). */
  readonly challengeActions?: readonly string[];
}

export const CATALOG_REQUIREMENT: AccessRequirement = { type: "registry", name: "catalog", action: "*" };

export interface TokenClaims {
  readonly jti: string;
  readonly sub: string;
  readonly aud: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly kind: "refresh" | "access";
  readonly anonymous?: boolean;
  readonly access?: readonly AccessEntry[];
}

const ANONYMOUS_ACTIONS = new Set(["pull", "metadata_read"]);
export const ANONYMOUS_SUBJECT = "anonymous";
const REFRESH_LIFETIME_S = 3 * 60 * 60;
const ACCESS_LIFETIME_S = 75 * 60;

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString("base64url");
}

/** `repository:team/app:pull,push` or `registry:catalog:*`; undefined when malformed. */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  if (type !== "repository" && type !== "registry") return undefined;
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  if (name === "" || actions.length === 0) return undefined;
  return { type, name, actions };
}

/** Splits repeated and space-separated scope parameters into entries, dropping malformed ones. */
export function parseScopes(values: readonly string[]): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const value of values) {
    for (const part of value.split(" ")) {
      if (part === "") continue;
      const entry = parseScope(part);
      if (entry !== undefined) entries.push(entry);
    }
  }
  return entries;
}

export function formatRequirementScope(requirement: AccessRequirement): string {
  const actions = requirement.challengeActions ?? [requirement.action];
  return `${requirement.type}:${requirement.name}:${actions.join(",")}`;
}

function actionSatisfies(granted: readonly string[], needed: string): boolean {
  if (granted.includes("*") || granted.includes(needed)) return true;
  // A puller may read metadata (ACR's AcrPull role includes it).
  return needed === "metadata_read" && granted.includes("pull");
}

/** True when the access token's entries cover the requirement. */
export function grants(claims: TokenClaims, requirement: AccessRequirement): boolean {
  return (claims.access ?? []).some(
    (entry) =>
      entry.type === requirement.type &&
      entry.name === requirement.name &&
      actionSatisfies(entry.actions, requirement.action),
  );
}

/** Anonymous pull only ever grants pull/metadata reads and the catalog. */
export function restrictToAnonymous(entries: readonly AccessEntry[]): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const entry of entries) {
    if (entry.type === "registry") {
      if (entry.name === "catalog") out.push(entry);
      continue;
    }
    const actions = entry.actions.filter((a) => ANONYMOUS_ACTIONS.has(a));
    if (actions.length > 0) out.push({ ...entry, actions });
  }
  return out;
}

/** A stable, non-secret identity for an AAD token: its oid/appid/sub claim if it is a JWT, else a hash. */
export function identityFromAadToken(token: string): { subject: string; expired: boolean } {
  const parts = token.split(".");
  if (parts.length === 3 && parts[1] !== undefined) {
    try {
      const payload = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<
        string,
        unknown
      >;
      const id = [payload.oid, payload.appid, payload.azp, payload.sub, payload.upn].find(
        (v): v is string => typeof v === "string" && v !== "",
      );
      const expired = typeof payload.exp === "number" && payload.exp * 1000 < Date.now();
      if (id !== undefined) return { subject: `aad:${id}`, expired };
    } catch {
      // Opaque token: fall through to the hash.
    }
  }
  return { subject: `aad:${createHash("sha256").update(token).digest("hex").slice(0, 16)}`, expired: false };
}

export class TokenAuthority {
  private readonly secret = randomBytes(32);

  constructor(private readonly clock: () => number = Date.now) {}

  issueRefreshToken(subject: string, service: string): string {
    return this.sign({ kind: "refresh", sub: subject, aud: service }, REFRESH_LIFETIME_S);
  }

  issueAccessToken(
    subject: string,
    service: string,
    access: readonly AccessEntry[],
    anonymous = false,
  ): { token: string; expiresIn: number; issuedAt: string } {
    const token = this.sign(
      { kind: "access", sub: subject, aud: service, access, ...(anonymous ? { anonymous } : {}) },
      ACCESS_LIFETIME_S,
    );
    return { token, expiresIn: ACCESS_LIFETIME_S, issuedAt: new Date(this.clock()).toISOString() };
  }

  /** The claims of a token we signed, current, and of the expected kind; undefined otherwise. */
  verify(token: string, kind: TokenClaims["kind"]): TokenClaims | undefined {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    const [header, payload, signature] = parts as [string, string, string];
    const expected = createHmac("sha256", this.secret).update(`${header}.${payload}`).digest();
    let given: Buffer;
    try {
      given = Buffer.from(signature, "base64url");
    } catch {
      return undefined;
    }
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenClaims;
    } catch {
      return undefined;
    }
    const nowS = Math.floor(this.clock() / 1000);
    if (claims.kind !== kind || typeof claims.exp !== "number" || claims.exp <= nowS) return undefined;
    return claims;
  }

  private sign(body: Omit<TokenClaims, "jti" | "iat" | "nbf" | "exp">, lifetimeS: number): string {
    const iat = Math.floor(this.clock() / 1000);
    const claims = {
      jti: randomUUID(),
      iss: "acr-steward-emulator",
      iat,
      nbf: iat - 5,
      exp: iat + lifetimeS,
      ...body,
    };
    const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const payload = base64url(JSON.stringify(claims));
    const signature = createHmac("sha256", this.secret).update(`${header}.${payload}`).digest("base64url");
    return `${header}.${payload}.${signature}`;
  }
}

/** Constant-time comparison of configured and presented Basic credentials. */
export function credentialsMatch(
  expected: { username?: string; password?: string },
  given: { username: string; password: string },
): boolean {
  if (expected.username === undefined || expected.password === undefined) return false;
  const a = createHash("sha256").update(`${expected.username}\u0000${expected.password}`).digest();
  const b = createHash("sha256").update(`${given.username}\u0000${given.password}`).digest();
  return timingSafeEqual(a, b);
}

export function parseBasicAuth(
  header: string | undefined,
): { username: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
