import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type AccessRequirement,
  ANONYMOUS_SUBJECT,
  formatRequirementScope,
  grants,
  parseBearer,
  type TokenAuthority,
  type TokenClaims,
} from "./auth.js";
import { RegistryError, RegistryErrorCode } from "./errors.js";
import { categoryOf, type FaultInjector } from "./faults.js";
import { isRepositoryName } from "./grammar.js";
import { JSON_CONTENT_TYPE, type Reply, type RequestContext } from "./http.js";
import type { RegistryNotifications } from "./notifications.js";
import { acrRequirement, handleAcr } from "./routes/acr.js";
import { matchRoute, ROUTE_TEMPLATES, type RouteMatch } from "./routes/match.js";
import { handleOAuth, type OAuthDeps } from "./routes/oauth.js";
import { handleV2, type V2Deps, v2Requirement } from "./routes/v2.js";
import type { FaultKind, StatsRecorder } from "./stats.js";
import type { ManifestRecord, RegistryStore } from "./store.js";

/**
 * The request pipeline: route → latency → injected faults → auth (401 challenges) → per-identity budget
 * → handler → common headers and stats. Every failure becomes an error body; nothing thrown escapes.
 */

export interface EmulatorCoreOptions {
  readonly store: RegistryStore;
  readonly authority: TokenAuthority;
  readonly faults: FaultInjector;
  readonly stats: StatsRecorder;
  readonly notifications: RegistryNotifications;
  readonly username?: string;
  readonly password?: string;
  readonly anonymousPull: boolean;
  /** The login server (127.0.0.1:PORT); filled in once the port is known. */
  loginServer: string;
  port: number;
  /** Where request lines go (never tokens); undefined for silence. */
  readonly log?: (line: string) => void;
}

/** Upper bound of a request body kept in memory (blob chunks and monolithic uploads). */
const MAX_BODY_BYTES = 512 * 1024 * 1024;

const COMMON_HEADERS: Record<string, string> = {
  "Docker-Distribution-Api-Version": "registry/2.0",
  "X-Content-Type-Options": "nosniff",
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "Access-Control-Expose-Headers":
    "Docker-Content-Digest, WWW-Authenticate, Link, X-Ms-Correlation-Request-Id",
};

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) reject(new RegistryError(413, RegistryErrorCode.sizeInvalid, "request body too large"));
      else resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class EmulatorCore {
  constructor(private readonly options: EmulatorCoreOptions) {}

  /** The core learns its address once the OS picked the port. */
  bindAddress(port: number): void {
    this.options.port = port;
    this.options.loginServer = `127.0.0.1:${port}`;
  }

  /** host:port names this emulator answers to. */
  serviceNames(): Set<string> {
    const port = this.options.port;
    return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, this.options.loginServer]);
  }

  private hostFor(req: IncomingMessage): string {
    const host = (req.headers.host ?? "").toLowerCase();
    return this.serviceNames().has(host) ? host : this.options.loginServer;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = (req.method ?? "GET").toUpperCase();
    const requestId = randomUUID();
    const rawUrl = req.url ?? "/";
    const queryAt = rawUrl.indexOf("?");
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? "" : rawUrl.slice(queryAt + 1));
    const match = matchRoute(rawPath);
    const route = `${method} ${ROUTE_TEMPLATES[match.id]}`;
    let reply: Reply;
    let fault: FaultKind | undefined;
    try {
      const body = await readBody(req);
      const ctx: RequestContext = {
        method,
        query,
        headers: req.headers,
        body,
        host: this.hostFor(req),
        requestId,
        remoteAddress: req.socket.remoteAddress,
      };
      const outcome = await this.process(match, ctx);
      reply = outcome.reply;
      fault = outcome.fault;
    } catch (thrown) {
      reply = this.errorReply(thrown);
    }
    if (
      match.id !== "emulator.stats" &&
      match.id !== "emulator.statsReset" &&
      match.id !== "emulator.health"
    ) {
      this.options.stats.record(method, route, reply.status, fault);
    }
    this.write(res, method, requestId, reply);
    this.options.log?.(`${method} ${rawPath} ${reply.status} ${Date.now() - started}ms`);
  }

  private async process(
    match: RouteMatch,
    ctx: RequestContext,
  ): Promise<{ reply: Reply; fault?: FaultKind }> {
    const { faults, stats } = this.options;
    switch (match.id) {
      case "emulator.stats":
        return { reply: jsonOf(200, stats.snapshot()) };
      case "emulator.statsReset":
        if (ctx.method !== "POST") throw new RegistryError(405, RegistryErrorCode.unsupported, "use POST");
        stats.reset();
        return { reply: { status: 204 } };
      case "emulator.health":
        return { reply: jsonOf(200, { status: "ok", ...this.options.store.counts() }) };
      default:
        break;
    }

    const latency = faults.latencyMs();
    if (latency > 0) await sleep(latency);
    const injected = faults.injectedFailure();
    if (injected !== undefined) {
      return {
        reply: this.errorReply(injected),
        fault: injected.status === 429 ? "injected429" : "injected500",
      };
    }

    switch (match.id) {
      case "badPath":
        throw new RegistryError(400, RegistryErrorCode.nameInvalid, "malformed percent-encoding in the path");
      case "notFound":
        throw new RegistryError(404, RegistryErrorCode.unsupported, "no such API", { path: "unknown route" });
      case "oauth.exchange":
      case "oauth.token":
        return { reply: handleOAuth(match, ctx, this.oauthDeps()) };
      default:
        break;
    }

    // /v2 and /acr/v1 need a token; names are checked first so challenges never echo garbage.
    if ("name" in match && !isRepositoryName(match.name)) {
      throw new RegistryError(400, RegistryErrorCode.nameInvalid, "invalid repository name", {
        name: match.name,
      });
    }
    const requirement = match.id.startsWith("v2.")
      ? v2Requirement(match, ctx.method)
      : acrRequirement(match, ctx.method);
    const claims = this.authenticate(ctx, requirement);
    const authed: RequestContext = { ...ctx, claims };
    const budget = faults.spendBudget(
      claims.sub === ANONYMOUS_SUBJECT ? `anonymous@${ctx.remoteAddress ?? "?"}` : claims.sub,
      categoryOf(ctx.method),
    );
    if (budget !== undefined) return { reply: this.errorReply(budget), fault: "throttled" };

    const deps = this.routeDeps();
    const reply = match.id.startsWith("v2.") ? handleV2(match, authed, deps) : handleAcr(match, authed, deps);
    return { reply };
  }

  /** Verifies the bearer token and its scope, or throws the 401 challenge the SDK and docker expect. */
  private authenticate(ctx: RequestContext, requirement: AccessRequirement | undefined): TokenClaims {
    const token = parseBearer(
      Array.isArray(ctx.headers.authorization) ? ctx.headers.authorization[0] : ctx.headers.authorization,
    );
    const claims = token === undefined ? undefined : this.options.authority.verify(token, "access");
    if (claims !== undefined && (requirement === undefined || grants(claims, requirement))) return claims;
    const realm = `https://${ctx.host}/oauth2/token`;
    const scope = requirement === undefined ? undefined : formatRequirementScope(requirement);
    const scopePart = scope === undefined ? "" : `,scope="${scope}"`;
    const challenge = `Bearer realm="${realm}",service="${ctx.host}"${scopePart}`;
    const detail =
      requirement === undefined
        ? undefined
        : (requirement.challengeActions ?? [requirement.action]).map((action) => ({
            Type: requirement.type,
            Name: requirement.name,
            Action: action,
          }));
    throw new RegistryError(
      401,
      RegistryErrorCode.unauthorized,
      "authentication required, visit https://aka.ms/acr/authorization for more information.",
      detail,
      { "WWW-Authenticate": challenge },
    );
  }

  private oauthDeps(): OAuthDeps {
    return {
      authority: this.options.authority,
      username: this.options.username,
      password: this.options.password,
      anonymousPull: this.options.anonymousPull,
      serviceNames: this.serviceNames(),
    };
  }

  private routeDeps(): V2Deps {
    return {
      store: this.options.store,
      announce: (ctx, change) => this.announce(ctx, change),
    };
  }

  private announce(
    ctx: RequestContext,
    change: { action: "push" | "delete"; repository: string; manifest: ManifestRecord; tag?: string },
  ): void {
    const notification = {
      id: randomUUID(),
      action: change.action,
      timestamp: new Date().toISOString(),
      loginServer: ctx.host,
      repository: change.repository,
      digest: change.manifest.digest,
      mediaType: change.manifest.mediaType,
      requestId: ctx.requestId,
      requestMethod: ctx.method,
      ...(change.tag !== undefined && change.action === "push" ? { tag: change.tag } : {}),
      ...(change.action === "push" ? { size: change.manifest.bytes.length } : {}),
      ...(ctx.claims !== undefined && ctx.claims.sub !== ANONYMOUS_SUBJECT ? { actor: ctx.claims.sub } : {}),
      ...(typeof ctx.headers["user-agent"] === "string" ? { userAgent: ctx.headers["user-agent"] } : {}),
      ...(ctx.remoteAddress !== undefined ? { remoteAddress: ctx.remoteAddress } : {}),
    };
    try {
      this.options.notifications.emit("manifest", notification);
    } catch (error) {
      this.options.log?.(`notification listener failed: ${(error as Error).message}`);
    }
  }

  private errorReply(thrown: unknown): Reply {
    if (thrown instanceof RegistryError) {
      return {
        status: thrown.status,
        headers: { "Content-Type": JSON_CONTENT_TYPE, ...thrown.headers },
        body: Buffer.from(JSON.stringify(thrown.toBody())),
      };
    }
    this.options.log?.(`internal error: ${(thrown as Error)?.stack ?? String(thrown)}`);
    const error = new RegistryError(500, RegistryErrorCode.internal, "internal server error");
    return {
      status: 500,
      headers: { "Content-Type": JSON_CONTENT_TYPE },
      body: Buffer.from(JSON.stringify(error.toBody())),
    };
  }

  private write(res: ServerResponse, method: string, requestId: string, reply: Reply): void {
    if (res.headersSent || res.destroyed) return;
    const body = reply.body ?? Buffer.alloc(0);
    const headers: Record<string, string> = {
      ...COMMON_HEADERS,
      "X-Ms-Correlation-Request-Id": requestId,
      ...reply.headers,
      "Content-Length": String(body.length),
    };
    try {
      res.writeHead(reply.status, headers);
      if (method === "HEAD" || reply.status === 204 || reply.status === 304) res.end();
      else res.end(body);
    } catch {
      res.destroy();
    }
  }
}

function jsonOf(status: number, value: unknown): Reply {
  return {
    status,
    headers: { "Content-Type": JSON_CONTENT_TYPE },
    body: Buffer.from(JSON.stringify(value)),
  };
}
