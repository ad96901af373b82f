import type { Readable } from "node:stream";
import { z } from "zod";
import { StewardError, UnsupportedOperationError } from "../errors/index.js";
import { type AuditSink, audited } from "./audit.js";
import { LruCache } from "./cache.js";
import type { DistributionApi } from "./distributionApi.js";
import { encodeRepository } from "./http.js";
import { formatReference, type ImageReference, manifestReference } from "./imageReference.js";
import { collectListing, mapConcurrent, pagedListing } from "./listing.js";
import { type ImageConfigFacts, isImageConfig, type ParsedManifest, parseManifest } from "./ociManifest.js";
import type {
  BlobStream,
  Descriptor,
  ListOptions,
  Locks,
  ManifestContent,
  ManifestDetails,
  ManifestListOptions,
  ManifestSummary,
  Registry,
  RegistryCapabilities,
  TagInfo,
} from "./registry.js";

/**
 * The generic adapter for any OCI distribution registry (Docker's reference registry, Harbor, GHCR...).
 * Only `/v2` exists there, so: manifests are found through tags (untagged ones are invisible), there
 * are no locks and no ordering, and created times come from the image config. What cannot be known
 * stays undefined.
 */
const CatalogPageSchema = z.object({ repositories: z.array(z.string()).nullish() });
const TagsPageSchema = z.object({ name: z.string().optional(), tags: z.array(z.string()).nullish() });

export interface OciRegistryOptions {
  readonly loginServer: string;
  readonly api: DistributionApi;
  readonly audit: AuditSink;
  readonly actor: string;
  readonly defaultPageSize?: number;
  /** Parallel manifest reads while building a manifest listing from tags. */
  readonly readConcurrency?: number;
}

export class OciRegistry implements Registry {
  readonly kind = "oci" as const;
  readonly capabilities: RegistryCapabilities = {
    listsUntaggedManifests: false,
    locks: false,
    orderByTime: false,
  };
  readonly loginServer: string;
  readonly #api: DistributionApi;
  readonly #audit: AuditSink;
  readonly #actor: string;
  readonly #pageSize: number;
  readonly #readConcurrency: number;
  readonly #tagListings = new LruCache<string, string[]>({
    maxEntries: 256,
    maxBytes: 2_000_000,
    sizeOf: (tags) => tags.length,
    ttlMs: 30_000,
  });

  constructor(options: OciRegistryOptions) {
    this.loginServer = options.loginServer;
    this.#api = options.api;
    this.#audit = options.audit;
    this.#actor = options.actor;
    this.#pageSize = options.defaultPageSize ?? 100;
    this.#readConcurrency = options.readConcurrency ?? 8;
  }

  listRepositories(options: ListOptions = {}): AsyncIterable<string> {
    const n = options.pageSize ?? this.#pageSize;
    return pagedListing(`repositories of ${this.loginServer}`, async (cursor) => {
      const page = await this.#api.listPage(cursor ?? `/v2/_catalog?n=${n}`, "list repositories");
      const body = parse(CatalogPageSchema, page.body, "catalog page");
      return { items: body.repositories ?? [], ...(page.next === undefined ? {} : { next: page.next }) };
    });
  }

  listTags(repository: string, options: ListOptions = {}): AsyncIterable<TagInfo> {
    const names = this.#tagNames(repository, options);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const name of names) yield { name };
      },
    };
  }

  /** Tag names, served from a short-lived cache when a complete listing is at hand. */
  #tagNames(repository: string, options: ListOptions): AsyncIterable<string> {
    const cached = this.#tagListings.get(repository);
    if (cached !== undefined) return iterate(cached);
    const n = options.pageSize ?? this.#pageSize;
    const listing = pagedListing(`tags of ${repository}`, async (cursor) => {
      const page = await this.#api.listPage(
        cursor ?? `/v2/${encodeRepository(repository)}/tags/list?n=${n}`,
        `list tags of ${repository}`,
        `repository ${repository}`,
      );
      const body = parse(TagsPageSchema, page.body, "tag list page");
      return { items: body.tags ?? [], ...(page.next === undefined ? {} : { next: page.next }) };
    });
    const cache = this.#tagListings;
    return {
      async *[Symbol.asyncIterator]() {
        const seen: string[] = [];
        for await (const tag of listing) {
          seen.push(tag);
          yield tag;
        }
        cache.set(repository, seen);
      },
    };
  }

  listManifests(repository: string, options: ManifestListOptions = {}): AsyncIterable<ManifestSummary> {
    if (options.order !== undefined) {
      throw new UnsupportedOperationError(
        `${this.loginServer} is not an ACR and cannot order manifests by time; list without an order`,
      );
    }
    const registry = this;
    return {
      async *[Symbol.asyncIterator]() {
        // The tag listing must be complete before manifests are grouped; a partial one throws here.
        const tags = await collectListing(registry.#tagNames(repository, options));
        const resolved = await mapConcurrent(tags, registry.#readConcurrency, async (tag) => ({
          tag,
          content: await registry.#api.getManifest(repository, tag),
        }));
        const byDigest = new Map<string, { content: ManifestContent; tags: string[] }>();
        for (const { tag, content } of resolved) {
          const entry = byDigest.get(content.digest) ?? { content, tags: [] };
          entry.tags.push(tag);
          byDigest.set(content.digest, entry);
        }
        for (const { content, tags: manifestTags } of byDigest.values()) {
          const details = await registry.#describe(repository, content);
          yield { ...details, tags: manifestTags.sort() };
        }
      },
    };
  }

  async listReferrers(repository: string, digest: string): Promise<readonly Descriptor[]> {
    return this.#api.listReferrers(repository, digest);
  }

  async inspect(reference: ImageReference): Promise<ManifestDetails> {
    const content = await this.#api.getManifest(reference.repository, manifestReference(reference));
    const details = await this.#describe(reference.repository, content);
    return { ...details, tags: reference.tag === undefined ? [] : [reference.tag], tagsKnown: false };
  }

  async exists(reference: ImageReference): Promise<boolean> {
    return this.#api.manifestExists(reference.repository, manifestReference(reference));
  }

  async deleteManifest(repository: string, digest: string): Promise<void> {
    await audited(
      this.#audit,
      this.#actor,
      { action: "delete-manifest", registry: this.loginServer, repository, digest },
      () => this.#api.deleteManifest(repository, digest),
    );
    this.#tagListings.delete(repository);
  }

  async untag(repository: string, tag: string): Promise<void> {
    await audited(
      this.#audit,
      this.#actor,
      { action: "untag", registry: this.loginServer, repository, tag },
      () => this.#api.deleteTag(repository, tag),
    );
    this.#tagListings.delete(repository);
  }

  async setLocks(reference: ImageReference, change: Partial<Locks>): Promise<Locks> {
    return audited(
      this.#audit,
      this.#actor,
      {
        action: "set-locks",
        registry: this.loginServer,
        repository: reference.repository,
        ...(reference.digest === undefined ? {} : { digest: reference.digest }),
        ...(reference.tag === undefined ? {} : { tag: reference.tag }),
        details: { ...change },
      },
      async () => {
        throw new UnsupportedOperationError(
          `${this.loginServer} is not an Azure Container Registry: locks (deleteEnabled/writeEnabled) do not exist there, so ${formatReference(reference)} cannot be locked or unlocked`,
        );
      },
    );
  }

  getManifest(repository: string, reference: string): Promise<ManifestContent> {
    return this.#api.getManifest(repository, reference);
  }
  putManifest(repository: string, reference: string, content: ManifestContent): Promise<string> {
    this.#tagListings.delete(repository);
    return this.#api.putManifest(repository, reference, content);
  }
  hasBlob(repository: string, digest: string): Promise<boolean> {
    return this.#api.hasBlob(repository, digest);
  }
  mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    return this.#api.mountBlob(repository, digest, fromRepository);
  }
  openBlob(repository: string, digest: string): Promise<BlobStream> {
    return this.#api.openBlob(repository, digest);
  }
  uploadBlob(repository: string, digest: string, size: number, open: () => Promise<Readable>): Promise<void> {
    return this.#api.uploadBlob(repository, digest, size, open);
  }

  async #describe(
    repository: string,
    content: ManifestContent,
  ): Promise<Omit<ManifestDetails, "tags" | "tagsKnown">> {
    const where = `${repository}@${content.digest}`;
    const manifest = parseManifest(content.bytes, content.mediaType, where);
    const config =
      manifest.config !== undefined && isImageConfig(manifest.config.mediaType)
        ? await this.#api.imageConfig(repository, manifest.config)
        : {};
    return describeManifest(this.loginServer, repository, content, manifest, config);
  }
}

/** Facts every registry can give from the manifest and its config; ACR adds its attributes on top. */
export function describeManifest(
  registry: string,
  repository: string,
  content: ManifestContent,
  manifest: ParsedManifest,
  config: ImageConfigFacts,
): Omit<ManifestDetails, "tags" | "tagsKnown"> {
  const platforms = manifest.children.map((child) => ({ digest: child.digest, ...(child.platform ?? {}) }));
  const sizeBytes = manifest.isIndex
    ? undefined
    : content.bytes.length +
      (manifest.config?.size ?? 0) +
      manifest.layers.reduce((sum, layer) => sum + (layer.size ?? 0), 0);
  return {
    registry,
    repository,
    digest: content.digest,
    mediaType: manifest.mediaType,
    manifestSizeBytes: content.bytes.length,
    ...(sizeBytes === undefined ? {} : { sizeBytes }),
    ...(manifest.artifactType === undefined ? {} : { artifactType: manifest.artifactType }),
    ...(manifest.config?.mediaType === undefined ? {} : { configMediaType: manifest.config.mediaType }),
    ...(config.created === undefined
      ? {}
      : { createdAt: config.created, createdFrom: "image-config" as const }),
    ...(config.architecture === undefined ? {} : { architecture: config.architecture }),
    ...(config.os === undefined ? {} : { os: config.os }),
    children: manifest.children,
    platforms,
    ...(manifest.subject === undefined ? {} : { subject: manifest.subject }),
    ...(manifest.config === undefined ? {} : { config: manifest.config }),
    layers: manifest.layers,
    ...(manifest.annotations === undefined ? {} : { annotations: manifest.annotations }),
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new StewardError(`the registry answered a malformed ${what}: ${parsed.error.message}`);
  return parsed.data;
}

async function* iterate<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
