import type { Readable } from "node:stream";
import { isTransient, StewardError, UnsupportedOperationError } from "../errors/index.js";
import { isDigest } from "../oci/reference.js";
import { LruCache } from "./cache.js";
import { encodeRepository, nextLink, type RegistryHttp, readBody } from "./http.js";
import {
  type ImageConfigFacts,
  MANIFEST_ACCEPT,
  MEDIA_TYPES,
  parseImageConfig,
  parseManifest,
  sha256Digest,
} from "./ociManifest.js";
import type { BlobStream, Descriptor, ManifestContent } from "./registry.js";

/**
 * The OCI distribution API (`/v2/...`) over a `RegistryHttp`: what both adapters need beyond their
 * listings. Manifests fetched by digest and image configs are cached (content never changes).
 */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const BLOB_TRANSFER_TIMEOUT_MS = 30 * 60 * 1000;

export interface ContentCaches {
  /** Key `repository@digest`: manifests are immutable. */
  readonly manifests: LruCache<string, ManifestContent>;
  /** Key `digest`: image configs are immutable. */
  readonly configs: LruCache<string, ImageConfigFacts>;
}

export function createContentCaches(): ContentCaches {
  return {
    manifests: new LruCache({
      maxEntries: 10_000,
      maxBytes: 64 * 1024 * 1024,
      sizeOf: (m) => m.bytes.length + 200,
    }),
    configs: new LruCache({ maxEntries: 20_000 }),
  };
}

export class DistributionApi {
  constructor(
    readonly http: RegistryHttp,
    readonly registry: string,
    readonly caches: ContentCaches,
  ) {}

  async manifestExists(repository: string, reference: string, signal?: AbortSignal): Promise<boolean> {
    const response = await this.http.request(
      {
        method: "HEAD",
        path: `/v2/${encodeRepository(repository)}/manifests/${encodeURIComponent(reference)}`,
        headers: { Accept: MANIFEST_ACCEPT },
        accept: [200, 404],
      },
      {
        registry: this.registry,
        operation: `check ${repository}:${reference}`,
        subject: `${repository}:${reference}`,
      },
      signal === undefined ? {} : { signal },
    );
    return response.status === 200;
  }

  async getManifest(repository: string, reference: string): Promise<ManifestContent> {
    if (isDigest(reference)) {
      const cached = this.caches.manifests.get(`${repository}@${reference}`);
      if (cached !== undefined) return cached;
    }
    const subject = `${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
    const response = await this.http.request(
      {
        method: "GET",
        path: `/v2/${encodeRepository(repository)}/manifests/${encodeURIComponent(reference)}`,
        headers: { Accept: MANIFEST_ACCEPT },
        accept: [200],
        streamStatuses: [200],
      },
      { registry: this.registry, operation: `read manifest ${subject}`, subject },
    );
    const bytes = await readBody(response, MAX_MANIFEST_BYTES);
    const digest = sha256Digest(bytes);
    const claimed = response.headers.get("docker-content-digest");
    if (
      (isDigest(reference) && reference !== digest) ||
      (claimed?.startsWith("sha256:") && claimed !== digest)
    ) {
      throw new StewardError(
        `manifest ${subject} on ${this.registry} does not match its digest (computed ${digest}); refusing to use it`,
      );
    }
    const contentType = response.headers.get("content-type") ?? undefined;
    const mediaType = parseManifest(bytes, contentType, subject).mediaType;
    const content = { digest, mediaType, bytes };
    this.caches.manifests.set(`${repository}@${digest}`, content);
    return content;
  }

  async putManifest(repository: string, reference: string, content: ManifestContent): Promise<string> {
    const response = await this.http.request(
      {
        method: "PUT",
        path: `/v2/${encodeRepository(repository)}/manifests/${encodeURIComponent(reference)}`,
        headers: { "Content-Type": content.mediaType },
        body: content.bytes,
        accept: [200, 201],
      },
      { registry: this.registry, operation: `write manifest ${repository}:${reference}` },
    );
    return response.headers.get("docker-content-digest") ?? content.digest;
  }

  async deleteManifest(repository: string, digest: string): Promise<void> {
    await this.http.request(
      {
        method: "DELETE",
        path: `/v2/${encodeRepository(repository)}/manifests/${encodeURIComponent(digest)}`,
        accept: [200, 202, 404],
      },
      {
        registry: this.registry,
        operation: `delete ${repository}@${digest}`,
        subject: `${repository}@${digest}`,
      },
    );
  }

  async deleteTag(repository: string, tag: string): Promise<void> {
    const response = await this.http.request(
      {
        method: "DELETE",
        path: `/v2/${encodeRepository(repository)}/manifests/${encodeURIComponent(tag)}`,
        accept: [200, 202, 404, 400, 405],
      },
      { registry: this.registry, operation: `untag ${repository}:${tag}`, subject: `${repository}:${tag}` },
    );
    if (response.status === 400 || response.status === 405) {
      throw new UnsupportedOperationError(
        `${this.registry} does not support removing a tag on its own (answered ${response.status}); delete the manifest by digest instead, or re-point the tag`,
      );
    }
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.http.request(
      { method: "HEAD", path: `/v2/${encodeRepository(repository)}/blobs/${digest}`, accept: [200, 404] },
      { registry: this.registry, operation: `check blob ${repository}@${digest}` },
    );
    return response.status === 200;
  }

  async mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    const query = `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`;
    const response = await this.http.request(
      {
        method: "POST",
        path: `/v2/${encodeRepository(repository)}/blobs/uploads/?${query}`,
        accept: [201, 202],
      },
      {
        registry: this.registry,
        operation: `mount blob ${digest} from ${fromRepository} into ${repository}`,
      },
    );
    if (response.status === 201) return true;
    // 202: the registry opened an upload instead of mounting; close it, the caller uploads.
    const location = response.headers.get("location");
    if (location) {
      await this.http
        .request(
          { method: "DELETE", path: location, accept: [200, 202, 204, 404] },
          { registry: this.registry, operation: `cancel upload into ${repository}` },
        )
        .catch(() => undefined);
    }
    return false;
  }

  async openBlob(repository: string, digest: string): Promise<BlobStream> {
    const response = await this.http.request(
      {
        method: "GET",
        path: `/v2/${encodeRepository(repository)}/blobs/${digest}`,
        accept: [200],
        streamStatuses: [200],
      },
      { registry: this.registry, operation: `read blob ${repository}@${digest}`, subject: `blob ${digest}` },
      { attemptTimeoutMs: BLOB_TRANSFER_TIMEOUT_MS },
    );
    const length = response.headers.get("content-length");
    const stream = response.readableStreamBody as Readable | undefined;
    if (stream === undefined)
      throw new StewardError(`blob ${digest} on ${this.registry} came without a body`);
    return { size: length === undefined ? undefined : Number(length), stream };
  }

  async uploadBlob(
    repository: string,
    digest: string,
    size: number,
    open: () => Promise<Readable>,
  ): Promise<void> {
    const context = { registry: this.registry, operation: `upload blob ${digest} to ${repository}` };
    // A stream can be sent once: each try opens a new upload and a new source stream.
    for (let attempt = 1; ; attempt += 1) {
      try {
        const start = await this.http.request(
          { method: "POST", path: `/v2/${encodeRepository(repository)}/blobs/uploads/`, accept: [202] },
          context,
        );
        const location = start.headers.get("location");
        if (!location) throw new StewardError(`${this.registry} opened an upload without a Location header`);
        const target = `${location}${location.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
        const stream = await open();
        await this.http.request(
          {
            method: "PUT",
            path: target,
            headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
            body: () => stream,
            accept: [201],
          },
          context,
          { attemptTimeoutMs: BLOB_TRANSFER_TIMEOUT_MS, maxAttempts: 1 },
        );
        return;
      } catch (error) {
        if (attempt >= 3 || !isTransient(error)) throw error;
      }
    }
  }

  async listReferrers(repository: string, digest: string): Promise<readonly Descriptor[]> {
    const response = await this.http.request(
      {
        method: "GET",
        path: `/v2/${encodeRepository(repository)}/referrers/${digest}`,
        headers: { Accept: MEDIA_TYPES.ociIndex },
        accept: [200, 404],
      },
      { registry: this.registry, operation: `list referrers of ${repository}@${digest}` },
    );
    if (response.status === 404) {
      throw new UnsupportedOperationError(
        `${this.registry} does not offer the OCI referrers API (404 on /v2/${repository}/referrers/); signatures and SBOMs cannot be listed there`,
      );
    }
    return parseManifest(
      Buffer.from(response.bodyAsText ?? "{}"),
      MEDIA_TYPES.ociIndex,
      `referrers of ${digest}`,
    ).children;
  }

  /** Architecture, OS and creation time from an image config blob (cached; undefined parts are unknown). */
  async imageConfig(repository: string, config: Descriptor): Promise<ImageConfigFacts> {
    const cached = this.caches.configs.get(config.digest);
    if (cached !== undefined) return cached;
    const response = await this.http.request(
      {
        method: "GET",
        path: `/v2/${encodeRepository(repository)}/blobs/${config.digest}`,
        accept: [200],
        streamStatuses: [200],
      },
      { registry: this.registry, operation: `read image config ${repository}@${config.digest}` },
    );
    const facts = parseImageConfig(await readBody(response, MAX_CONFIG_BYTES));
    this.caches.configs.set(config.digest, facts);
    return facts;
  }

  /** GETs a `/v2` listing page: `/v2/_catalog` or `/v2/<name>/tags/list`. */
  async listPage(
    path: string,
    operation: string,
    subject?: string,
  ): Promise<{ body: unknown; next?: string }> {
    const response = await this.http.request(
      { method: "GET", path, headers: { Accept: "application/json" }, accept: [200] },
      { registry: this.registry, operation, ...(subject === undefined ? {} : { subject }) },
    );
    const next = sameOriginPath(nextLink(response.headers.get("link")), this.http.baseUrl);
    let body: unknown;
    try {
      body = JSON.parse(response.bodyAsText ?? "{}");
    } catch (cause) {
      throw new StewardError(`${operation} on ${this.registry}: the answer is not JSON`, { cause });
    }
    return next === undefined ? { body } : { body, next };
  }
}

/** A Link target we will follow: relative, or absolute on the registry itself (never another host). */
export function sameOriginPath(link: string | undefined, baseUrl: string): string | undefined {
  if (link === undefined) return undefined;
  if (link.startsWith("/")) return link;
  try {
    const url = new URL(link);
    if (url.origin !== new URL(baseUrl).origin) {
      throw new StewardError(
        `the registry's next-page link points to another host (${url.host}); refusing to follow it`,
      );
    }
    return `${url.pathname}${url.search}`;
  } catch (error) {
    if (error instanceof StewardError) throw error;
    return `/${link}`;
  }
}
