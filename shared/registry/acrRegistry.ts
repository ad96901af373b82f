import type { Readable } from "node:stream";
import type { ContainerRegistryClient, ContainerRegistryContentClient } from "@azure/container-registry";
import { z } from "zod";
import { StewardError, UnsupportedOperationError } from "../errors/index.js";
import { isDigest } from "../oci/reference.js";
import { type AuditSink, audited } from "./audit.js";
import { LruCache } from "./cache.js";
import type { DistributionApi } from "./distributionApi.js";
import { sameOriginPath } from "./distributionApi.js";
import { nextLink, translateThrown } from "./http.js";
import { formatReference, type ImageReference, manifestReference } from "./imageReference.js";
import { pagedListing } from "./listing.js";
import { parseManifest } from "./ociManifest.js";
import { describeManifest } from "./ociRegistry.js";
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
import type { RegistryCallContext } from "./registryErrors.js";
import { type CallEnvironment, type CallOptions, callRegistry } from "./reliability.js";

/**
 * The Azure Container Registry adapter, built on `@azure/container-registry`: the SDK authenticates
 * (Entra token → ACR refresh token → access token per challenge scope) and serves repositories, tags,
 * manifest attributes, locks, deletes and content. Requests the SDK has no method for (HEAD manifest,
 * blob mount, referrers, and the manifest listing, whose `mediaType`/`configMediaType` the SDK drops)
 * are sent through the SDK client's own pipeline, so they carry the same authentication.
 */
const ChangeableAttributesSchema = z.object({
  deleteEnabled: z.boolean().optional(),
  writeEnabled: z.boolean().optional(),
  readEnabled: z.boolean().optional(),
  listEnabled: z.boolean().optional(),
});

const ManifestAttributesSchema = z.object({
  digest: z.string(),
  imageSize: z.number().optional(),
  createdTime: z.string().optional(),
  lastUpdateTime: z.string().optional(),
  architecture: z.string().nullish(),
  os: z.string().nullish(),
  mediaType: z.string().nullish(),
  configMediaType: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  references: z
    .array(z.object({ digest: z.string(), architecture: z.string().nullish(), os: z.string().nullish() }))
    .nullish(),
  changeableAttributes: ChangeableAttributesSchema.nullish(),
});

const ManifestListPageSchema = z.object({
  manifests: z.array(ManifestAttributesSchema).nullish(),
  link: z.string().nullish(),
});

/** Image config media types are not artifact types; anything else in `configMediaType` is (signatures, SBOMs). */
const IMAGE_CONFIG_TYPES = new Set([
  "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.container.image.v1+json",
  "application/vnd.oci.empty.v1+json",
]);

export interface AcrRegistryOptions {
  readonly loginServer: string;
  readonly client: ContainerRegistryClient;
  /** One SDK content client per repository (each has its own token cache); the factory caches them. */
  readonly contentClient: (repository: string) => ContainerRegistryContentClient;
  /** `/v2` requests through the SDK client's pipeline. */
  readonly api: DistributionApi;
  readonly environment: CallEnvironment;
  readonly audit: AuditSink;
  readonly actor: string;
  readonly defaultPageSize?: number;
}

export class AcrRegistry implements Registry {
  readonly kind = "acr" as const;
  readonly capabilities: RegistryCapabilities = {
    listsUntaggedManifests: true,
    locks: true,
    orderByTime: true,
  };
  readonly loginServer: string;
  readonly #client: ContainerRegistryClient;
  readonly #contentClient: (repository: string) => ContainerRegistryContentClient;
  readonly #api: DistributionApi;
  readonly #environment: CallEnvironment;
  readonly #audit: AuditSink;
  readonly #actor: string;
  readonly #pageSize: number;
  readonly #tagListings = new LruCache<string, TagInfo[]>({
    maxEntries: 256,
    maxBytes: 2_000_000,
    sizeOf: (tags) => tags.length,
    ttlMs: 30_000,
  });

  constructor(options: AcrRegistryOptions) {
    this.loginServer = options.loginServer;
    this.#client = options.client;
    this.#contentClient = options.contentClient;
    this.#api = options.api;
    this.#environment = options.environment;
    this.#audit = options.audit;
    this.#actor = options.actor;
    this.#pageSize = options.defaultPageSize ?? 100;
  }

  listRepositories(options: ListOptions = {}): AsyncIterable<string> {
    const maxPageSize = options.pageSize ?? this.#pageSize;
    return pagedListing(`repositories of ${this.loginServer}`, (cursor) =>
      this.#call({ operation: "list repositories" }, options, async (abortSignal) => {
        const pages = this.#client
          .listRepositoryNames({ abortSignal })
          .byPage({ maxPageSize, ...(cursor === undefined ? {} : { continuationToken: cursor }) });
        const page = await pages.next();
        if (page.done) return { items: [] };
        return {
          items: [...page.value],
          ...(page.value.continuationToken ? { next: page.value.continuationToken } : {}),
        };
      }),
    );
  }

  listTags(repository: string, options: ListOptions = {}): AsyncIterable<TagInfo> {
    const cached = this.#tagListings.get(repository);
    if (cached !== undefined) return iterate(cached);
    const maxPageSize = options.pageSize ?? this.#pageSize;
    const listing = pagedListing(`tags of ${repository}`, (cursor) =>
      this.#call(
        { operation: `list tags of ${repository}`, subject: `repository ${repository}` },
        options,
        async (abortSignal) => {
          // listTagProperties lists every tag of the repository; the artifact's own tag is not used.
          const pages = this.#client
            .getArtifact(repository, "latest")
            .listTagProperties({ abortSignal })
            .byPage({ maxPageSize, ...(cursor === undefined ? {} : { continuationToken: cursor }) });
          const page = await pages.next();
          if (page.done) return { items: [] };
          const items = page.value.map(
            (tag): TagInfo => ({
              name: tag.name,
              digest: tag.digest,
              createdAt: tag.createdOn,
              updatedAt: tag.lastUpdatedOn,
              locks: {
                deleteEnabled: tag.canDelete ?? true,
                writeEnabled: tag.canWrite ?? true,
                readEnabled: tag.canRead ?? true,
                listEnabled: tag.canList ?? true,
              },
            }),
          );
          // The SDK puts the Link target on each page array; its typings omit it for tags.
          const next = (page.value as { continuationToken?: string }).continuationToken;
          return { items, ...(next ? { next } : {}) };
        },
      ),
    );
    const cache = this.#tagListings;
    return {
      async *[Symbol.asyncIterator]() {
        const seen: TagInfo[] = [];
        for await (const tag of listing) {
          seen.push(tag);
          yield tag;
        }
        cache.set(repository, seen);
      },
    };
  }

  listManifests(repository: string, options: ManifestListOptions = {}): AsyncIterable<ManifestSummary> {
    const n = options.pageSize ?? this.#pageSize;
    const orderby =
      options.order === "newest-first"
        ? "timedesc"
        : options.order === "oldest-first"
          ? "timeasc"
          : undefined;
    const first = `/acr/v1/${encodeURIComponent(repository)}/_manifests?n=${n}${orderby === undefined ? "" : `&orderby=${orderby}`}`;
    return pagedListing(`manifests of ${repository}`, async (cursor) => {
      const page = await this.#api.listPage(
        cursor ?? first,
        `list manifests of ${repository}`,
        `repository ${repository}`,
      );
      const body = ManifestListPageSchema.safeParse(page.body);
      if (!body.success) {
        throw new StewardError(
          `the manifest listing of ${repository} on ${this.loginServer} is malformed: ${body.error.message}`,
        );
      }
      const next =
        page.next ?? sameOriginPath(nextLink(body.data.link ?? undefined), `https://${this.loginServer}`);
      const items = (body.data.manifests ?? []).map((m) => this.#summary(repository, m));
      return { items, ...(next === undefined ? {} : { next }) };
    });
  }

  async listReferrers(repository: string, digest: string): Promise<readonly Descriptor[]> {
    return this.#api.listReferrers(repository, digest);
  }

  async inspect(reference: ImageReference): Promise<ManifestDetails> {
    const content = await this.getManifest(reference.repository, manifestReference(reference));
    const attributes = await this.#call(
      {
        operation: `read attributes of ${reference.repository}@${content.digest}`,
        subject: formatReference(reference),
      },
      {},
      (abortSignal) =>
        this.#client.getArtifact(reference.repository, content.digest).getManifestProperties({ abortSignal }),
    );
    const manifest = parseManifest(content.bytes, content.mediaType, formatReference(reference));
    const base = describeManifest(this.loginServer, reference.repository, content, manifest, {});
    return {
      ...base,
      ...(attributes.sizeInBytes === undefined ? {} : { sizeBytes: attributes.sizeInBytes }),
      createdAt: attributes.createdOn,
      createdFrom: "registry",
      updatedAt: attributes.lastUpdatedOn,
      ...(attributes.architecture === undefined ? {} : { architecture: attributes.architecture }),
      ...(attributes.operatingSystem === undefined ? {} : { os: attributes.operatingSystem }),
      tags: [...attributes.tags].sort(),
      tagsKnown: true,
      locks: {
        deleteEnabled: attributes.canDelete ?? true,
        writeEnabled: attributes.canWrite ?? true,
        readEnabled: attributes.canRead ?? true,
        listEnabled: attributes.canList ?? true,
      },
      // The index's own platforms are authoritative; ACR's references fill in what an index omits.
      platforms: base.platforms.map((platform) => {
        const related = attributes.relatedArtifacts.find((r) => r.digest === platform.digest);
        return {
          ...platform,
          ...(platform.architecture === undefined && related?.architecture
            ? { architecture: related.architecture }
            : {}),
          ...(platform.os === undefined && related?.operatingSystem ? { os: related.operatingSystem } : {}),
        };
      }),
    };
  }

  async exists(reference: ImageReference): Promise<boolean> {
    return this.#api.manifestExists(reference.repository, manifestReference(reference));
  }

  async deleteManifest(repository: string, digest: string): Promise<void> {
    await audited(
      this.#audit,
      this.#actor,
      { action: "delete-manifest", registry: this.loginServer, repository, digest },
      () =>
        // The SDK counts 404 as success: a manifest already gone is deleted.
        this.#call({ operation: `delete ${repository}@${digest}` }, {}, (abortSignal) =>
          this.#client.getArtifact(repository, digest).delete({ abortSignal }),
        ),
    );
    this.#tagListings.delete(repository);
  }

  async untag(repository: string, tag: string): Promise<void> {
    await audited(
      this.#audit,
      this.#actor,
      { action: "untag", registry: this.loginServer, repository, tag },
      () =>
        this.#call({ operation: `untag ${repository}:${tag}` }, {}, (abortSignal) =>
          this.#client.getArtifact(repository, tag).deleteTag(tag, { abortSignal }),
        ),
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
        if (Object.keys(change).length === 0)
          throw new UnsupportedOperationError("no lock attribute to change");
        const updated = await this.#call(
          { operation: `change locks of ${formatReference(reference)}`, subject: formatReference(reference) },
          {},
          (abortSignal) =>
            this.#client
              .getArtifact(reference.repository, manifestReference(reference))
              .updateManifestProperties({
                abortSignal,
                ...(change.deleteEnabled === undefined ? {} : { canDelete: change.deleteEnabled }),
                ...(change.writeEnabled === undefined ? {} : { canWrite: change.writeEnabled }),
                ...(change.readEnabled === undefined ? {} : { canRead: change.readEnabled }),
                ...(change.listEnabled === undefined ? {} : { canList: change.listEnabled }),
              }),
        );
        return {
          deleteEnabled: updated.canDelete ?? true,
          writeEnabled: updated.canWrite ?? true,
          readEnabled: updated.canRead ?? true,
          listEnabled: updated.canList ?? true,
        };
      },
    );
  }

  async getManifest(repository: string, reference: string): Promise<ManifestContent> {
    if (isDigest(reference)) {
      const cached = this.#api.caches.manifests.get(`${repository}@${reference}`);
      if (cached !== undefined) return cached;
    }
    const subject = `${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
    const result = await this.#call({ operation: `read manifest ${subject}`, subject }, {}, (abortSignal) =>
      this.#contentClient(repository).getManifest(reference, { abortSignal }),
    );
    const content = { digest: result.digest, mediaType: result.mediaType, bytes: result.content };
    this.#api.caches.manifests.set(`${repository}@${content.digest}`, content);
    return content;
  }

  async putManifest(repository: string, reference: string, content: ManifestContent): Promise<string> {
    this.#tagListings.delete(repository);
    const result = await this.#call(
      { operation: `write manifest ${repository}:${reference}` },
      {},
      (abortSignal) =>
        this.#contentClient(repository).setManifest(content.bytes, {
          abortSignal,
          mediaType: content.mediaType,
          ...(isDigest(reference) ? {} : { tag: reference }),
        }),
    );
    return result.digest;
  }

  hasBlob(repository: string, digest: string): Promise<boolean> {
    return this.#api.hasBlob(repository, digest);
  }

  mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    return this.#api.mountBlob(repository, digest, fromRepository);
  }

  async openBlob(repository: string, digest: string): Promise<BlobStream> {
    const result = await this.#call(
      { operation: `read blob ${repository}@${digest}`, subject: `blob ${digest}` },
      { attemptTimeoutMs: 30 * 60 * 1000 },
      (abortSignal) => this.#contentClient(repository).downloadBlob(digest, { abortSignal }),
    );
    return { size: undefined, stream: result.content as Readable };
  }

  async uploadBlob(
    repository: string,
    digest: string,
    _size: number,
    open: () => Promise<Readable>,
  ): Promise<void> {
    const uploaded = await this.#call(
      { operation: `upload blob ${digest} to ${repository}` },
      { attemptTimeoutMs: 30 * 60 * 1000 },
      async (abortSignal) => this.#contentClient(repository).uploadBlob(await open(), { abortSignal }),
    );
    if (uploaded.digest !== digest) {
      throw new StewardError(
        `uploaded blob has digest ${uploaded.digest}, expected ${digest}; the source changed while copying`,
      );
    }
  }

  #summary(repository: string, m: z.infer<typeof ManifestAttributesSchema>): ManifestSummary {
    const locks = m.changeableAttributes;
    const artifactType =
      m.configMediaType && !IMAGE_CONFIG_TYPES.has(m.configMediaType) ? m.configMediaType : undefined;
    return {
      registry: this.loginServer,
      repository,
      digest: m.digest,
      ...(m.mediaType ? { mediaType: m.mediaType } : {}),
      ...(artifactType === undefined ? {} : { artifactType }),
      ...(m.configMediaType ? { configMediaType: m.configMediaType } : {}),
      ...(m.imageSize === undefined ? {} : { sizeBytes: m.imageSize }),
      ...(m.createdTime ? { createdAt: new Date(m.createdTime) } : {}),
      ...(m.lastUpdateTime ? { updatedAt: new Date(m.lastUpdateTime) } : {}),
      ...(m.architecture ? { architecture: m.architecture } : {}),
      ...(m.os ? { os: m.os } : {}),
      tags: [...(m.tags ?? [])].sort(),
      ...(locks
        ? {
            locks: {
              deleteEnabled: locks.deleteEnabled ?? true,
              writeEnabled: locks.writeEnabled ?? true,
              readEnabled: locks.readEnabled ?? true,
              listEnabled: locks.listEnabled ?? true,
            },
          }
        : {}),
      children: (m.references ?? []).map((r) => ({
        digest: r.digest,
        ...(r.architecture || r.os
          ? {
              platform: {
                ...(r.architecture ? { architecture: r.architecture } : {}),
                ...(r.os ? { os: r.os } : {}),
              },
            }
          : {}),
      })),
    };
  }

  #call<T>(
    context: Omit<RegistryCallContext, "registry">,
    options: CallOptions,
    run: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const full = { registry: this.loginServer, ...context };
    return callRegistry(
      this.#environment,
      full,
      async (signal) => {
        try {
          return await run(signal);
        } catch (thrown) {
          throw translateThrown(thrown, full);
        }
      },
      options,
    );
  }
}

async function* iterate<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
