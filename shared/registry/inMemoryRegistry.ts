import { Readable } from "node:stream";
import { GuardError, NotFoundError, UnavailableError } from "../errors/index.js";
import { isDigest } from "../oci/reference.js";
import { formatReference, type ImageReference, manifestReference } from "./imageReference.js";
import { pagedListing } from "./listing.js";
import { isImageConfig, MEDIA_TYPES, parseImageConfig, parseManifest, sha256Digest } from "./ociManifest.js";
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

/**
 * A `Registry` held in memory, behaving like ACR (locks, untagged manifests, time order). For unit
 * tests of code that uses the port (CLI commands, retention, sweeps); `failListingsAfterPages` makes
 * listings break half-way, to test that callers treat partial listings as such.
 */
interface StoredManifest {
  readonly content: ManifestContent;
  readonly createdAt: Date;
  updatedAt: Date;
  locks: Locks;
}

const UNLOCKED: Locks = { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true };

export class InMemoryRegistry implements Registry {
  readonly kind = "acr" as const;
  readonly capabilities: RegistryCapabilities = {
    listsUntaggedManifests: true,
    locks: true,
    orderByTime: true,
  };
  readonly repositories = new Map<
    string,
    { manifests: Map<string, StoredManifest>; tags: Map<string, string> }
  >();
  readonly blobs = new Map<string, Buffer>();
  /** Listings fail (as a registry outage would) after this many pages; undefined = never. */
  failListingsAfterPages: number | undefined;
  #clock: () => Date;

  constructor(
    readonly loginServer = "inmemory.azurecr.io",
    clock: () => Date = () => new Date(),
  ) {
    this.#clock = clock;
  }

  /** Stores a blob and returns its descriptor. */
  addBlob(bytes: Buffer, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"): Descriptor {
    const digest = sha256Digest(bytes);
    this.blobs.set(digest, bytes);
    return { digest, mediaType, size: bytes.length };
  }

  /** Pushes a small single-platform image and returns its digest. */
  pushImage(
    repository: string,
    options: { tag?: string; architecture?: string; os?: string; created?: string; layerText?: string } = {},
  ): string {
    const config = this.addBlob(
      Buffer.from(
        JSON.stringify({
          architecture: options.architecture ?? "amd64",
          os: options.os ?? "linux",
          created: options.created ?? "2026-01-01T00:00:00Z",
        }),
      ),
      MEDIA_TYPES.ociConfig,
    );
    const layer = this.addBlob(
      Buffer.from(options.layerText ?? `layer of ${repository}:${options.tag ?? "untagged"}`),
    );
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [layer] }),
    );
    return this.#store(repository, options.tag, {
      digest: sha256Digest(bytes),
      mediaType: MEDIA_TYPES.ociManifest,
      bytes,
    });
  }

  /** Pushes an index over existing manifests of the repository. */
  pushIndex(
    repository: string,
    children: readonly { digest: string; architecture: string; os: string }[],
    tag?: string,
  ): string {
    const repo = this.#repository(repository);
    const manifests = children.map((child) => ({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: child.digest,
      size: repo.manifests.get(child.digest)?.content.bytes.length ?? 0,
      platform: { architecture: child.architecture, os: child.os },
    }));
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }),
    );
    return this.#store(repository, tag, {
      digest: sha256Digest(bytes),
      mediaType: MEDIA_TYPES.ociIndex,
      bytes,
    });
  }

  listRepositories(options: ListOptions = {}): AsyncIterable<string> {
    const names = [...this.repositories.keys()].sort();
    return this.#paged(`repositories of ${this.loginServer}`, names, options.pageSize);
  }

  listTags(repository: string, options: ListOptions = {}): AsyncIterable<TagInfo> {
    return lazy(() => this.#tags(repository, options));
  }

  #tags(repository: string, options: ListOptions): AsyncIterable<TagInfo> {
    const repo = this.#existing(repository);
    const tags = [...repo.tags]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, digest]) => ({ name, digest }));
    return this.#paged(`tags of ${repository}`, tags, options.pageSize);
  }

  listManifests(repository: string, options: ManifestListOptions = {}): AsyncIterable<ManifestSummary> {
    return lazy(() => this.#manifests(repository, options));
  }

  #manifests(repository: string, options: ManifestListOptions): AsyncIterable<ManifestSummary> {
    const repo = this.#existing(repository);
    let manifests = [...repo.manifests.values()];
    if (options.order !== undefined) {
      const sign = options.order === "newest-first" ? -1 : 1;
      manifests = manifests.sort((a, b) => sign * (a.updatedAt.getTime() - b.updatedAt.getTime()));
    }
    const summaries = manifests.map((m) => this.#summary(repository, m));
    return this.#paged(`manifests of ${repository}`, summaries, options.pageSize);
  }

  async listReferrers(repository: string, digest: string): Promise<readonly Descriptor[]> {
    const repo = this.#existing(repository);
    const referrers: Descriptor[] = [];
    for (const stored of repo.manifests.values()) {
      const manifest = parseManifest(stored.content.bytes, stored.content.mediaType, stored.content.digest);
      if (manifest.subject?.digest === digest) {
        referrers.push({
          digest: stored.content.digest,
          mediaType: stored.content.mediaType,
          size: stored.content.bytes.length,
          ...(manifest.artifactType === undefined ? {} : { artifactType: manifest.artifactType }),
        });
      }
    }
    return referrers;
  }

  async inspect(reference: ImageReference): Promise<ManifestDetails> {
    const stored = this.#resolve(reference);
    const manifest = parseManifest(
      stored.content.bytes,
      stored.content.mediaType,
      formatReference(reference),
    );
    const configBytes = manifest.config === undefined ? undefined : this.blobs.get(manifest.config.digest);
    const config =
      configBytes !== undefined && isImageConfig(manifest.config?.mediaType)
        ? parseImageConfig(configBytes)
        : {};
    const base = describeManifest(this.loginServer, reference.repository, stored.content, manifest, config);
    return {
      ...base,
      createdAt: stored.createdAt,
      createdFrom: "registry",
      updatedAt: stored.updatedAt,
      tags: this.#tagsOf(reference.repository, stored.content.digest),
      tagsKnown: true,
      locks: stored.locks,
    };
  }

  async exists(reference: ImageReference): Promise<boolean> {
    try {
      this.#resolve(reference);
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  async deleteManifest(repository: string, digest: string): Promise<void> {
    const repo = this.repositories.get(repository);
    const stored = repo?.manifests.get(digest);
    if (repo === undefined || stored === undefined) return;
    if (!stored.locks.deleteEnabled) {
      throw new GuardError(`${repository}@${digest} is locked (deleteEnabled false)`);
    }
    repo.manifests.delete(digest);
    for (const [tag, target] of repo.tags) if (target === digest) repo.tags.delete(tag);
  }

  async untag(repository: string, tag: string): Promise<void> {
    this.repositories.get(repository)?.tags.delete(tag);
  }

  async setLocks(reference: ImageReference, change: Partial<Locks>): Promise<Locks> {
    const stored = this.#resolve(reference);
    stored.locks = { ...stored.locks, ...change };
    stored.updatedAt = this.#clock();
    return stored.locks;
  }

  async getManifest(repository: string, reference: string): Promise<ManifestContent> {
    return this.#resolve({
      repository,
      ...(isDigest(reference) ? { digest: reference } : { tag: reference }),
    }).content;
  }

  async putManifest(repository: string, reference: string, content: ManifestContent): Promise<string> {
    return this.#store(repository, isDigest(reference) ? undefined : reference, content);
  }

  async hasBlob(_repository: string, digest: string): Promise<boolean> {
    return this.blobs.has(digest);
  }

  async mountBlob(_repository: string, digest: string): Promise<boolean> {
    return this.blobs.has(digest);
  }

  async openBlob(_repository: string, digest: string): Promise<BlobStream> {
    const bytes = this.blobs.get(digest);
    if (bytes === undefined) throw new NotFoundError(`blob ${digest} not found`);
    return { size: bytes.length, stream: Readable.from([bytes]) };
  }

  async uploadBlob(
    _repository: string,
    digest: string,
    _size: number,
    open: () => Promise<Readable>,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of await open()) chunks.push(Buffer.from(chunk as Buffer));
    const bytes = Buffer.concat(chunks);
    if (sha256Digest(bytes) !== digest) throw new UnavailableError(`uploaded bytes do not match ${digest}`);
    this.blobs.set(digest, bytes);
  }

  #store(repository: string, tag: string | undefined, content: ManifestContent): string {
    const repo = this.#repository(repository);
    const now = this.#clock();
    const existing = repo.manifests.get(content.digest);
    if (existing === undefined) {
      repo.manifests.set(content.digest, { content, createdAt: now, updatedAt: now, locks: { ...UNLOCKED } });
    } else {
      existing.updatedAt = now;
    }
    if (tag !== undefined) repo.tags.set(tag, content.digest);
    return content.digest;
  }

  #summary(repository: string, stored: StoredManifest): ManifestSummary {
    const manifest = parseManifest(stored.content.bytes, stored.content.mediaType, stored.content.digest);
    const configBytes = manifest.config === undefined ? undefined : this.blobs.get(manifest.config.digest);
    const config = configBytes === undefined ? {} : parseImageConfig(configBytes);
    const base = describeManifest(this.loginServer, repository, stored.content, manifest, config);
    return {
      registry: base.registry,
      repository,
      digest: base.digest,
      mediaType: base.mediaType,
      ...(base.artifactType === undefined ? {} : { artifactType: base.artifactType }),
      ...(base.configMediaType === undefined ? {} : { configMediaType: base.configMediaType }),
      ...(base.sizeBytes === undefined ? {} : { sizeBytes: base.sizeBytes }),
      createdAt: stored.createdAt,
      updatedAt: stored.updatedAt,
      ...(base.architecture === undefined ? {} : { architecture: base.architecture }),
      ...(base.os === undefined ? {} : { os: base.os }),
      tags: this.#tagsOf(repository, stored.content.digest),
      locks: stored.locks,
      children: base.children,
    };
  }

  #tagsOf(repository: string, digest: string): string[] {
    const repo = this.repositories.get(repository);
    return [...(repo?.tags ?? [])]
      .filter(([, target]) => target === digest)
      .map(([tag]) => tag)
      .sort();
  }

  #resolve(reference: ImageReference): StoredManifest {
    const repo = this.#existing(reference.repository);
    const wanted = manifestReference(reference);
    const digest = isDigest(wanted) ? wanted : repo.tags.get(wanted);
    const stored = digest === undefined ? undefined : repo.manifests.get(digest);
    if (stored === undefined) {
      throw new NotFoundError(
        `${formatReference(reference)} was not found on ${this.loginServer}. Check the spelling of the repository and the tag or digest.`,
      );
    }
    return stored;
  }

  #repository(repository: string) {
    let repo = this.repositories.get(repository);
    if (repo === undefined) {
      repo = { manifests: new Map(), tags: new Map() };
      this.repositories.set(repository, repo);
    }
    return repo;
  }

  #existing(repository: string) {
    const repo = this.repositories.get(repository);
    if (repo === undefined) {
      throw new NotFoundError(
        `repository ${repository} was not found on ${this.loginServer}. Check the spelling of the repository.`,
      );
    }
    return repo;
  }

  #paged<T>(listing: string, items: readonly T[], pageSize = 100): AsyncIterable<T> {
    const failAfter = this.failListingsAfterPages;
    return pagedListing(listing, async (cursor) => {
      const start = cursor === undefined ? 0 : Number(cursor);
      if (failAfter !== undefined && start / pageSize >= failAfter) {
        throw new UnavailableError(`${this.loginServer} answered 503 while listing ${listing}`);
      }
      const end = start + pageSize;
      return { items: items.slice(start, end), ...(end < items.length ? { next: String(end) } : {}) };
    });
  }
}

/** Defers the work (and its errors) to the first iteration, like the network-backed adapters. */
function lazy<T>(make: () => AsyncIterable<T>): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      yield* make();
    },
  };
}
