import { randomUUID } from "node:crypto";
import { errors } from "./errors.js";
import { sha256Digest } from "./grammar.js";
import {
  type Descriptor,
  effectiveArtifactType,
  isNonDistributable,
  MAX_MANIFEST_BYTES,
  type ParsedManifest,
} from "./manifest.js";
import { compareStrings, compareTimeKeys, SortedIndex, type TimeKey } from "./sortedIndex.js";

/**
 * The emulator's in-memory registry: content-addressed blobs shared between repositories, and per
 * repository its manifests, tags, referrers and the ordered indexes that listings page through.
 * Lock rules (ACR changeable attributes) are enforced here so every route behaves the same.
 */

export interface ChangeableAttributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

export type AttributePatch = Partial<ChangeableAttributes>;

/** Shared by every new record (saves memory on large registries); updates replace it, never mutate it. */
const DEFAULT_ATTRIBUTES: Readonly<ChangeableAttributes> = Object.freeze({
  deleteEnabled: true,
  writeEnabled: true,
  readEnabled: true,
  listEnabled: true,
});

function defaultAttributes(): ChangeableAttributes {
  return DEFAULT_ATTRIBUTES;
}

const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_REFERENCES: readonly PlatformReference[] = Object.freeze([]);

export interface PlatformReference {
  readonly digest: string;
  readonly architecture?: string;
  readonly os?: string;
}

export interface ManifestRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly isIndex: boolean;
  readonly configDigest?: string;
  readonly configMediaType?: string;
  /** Blobs the manifest needs (config and layers), for reference checks. */
  readonly blobDigests: readonly string[];
  readonly childDigests: readonly string[];
  readonly subjectDigest?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly architecture?: string;
  readonly os?: string;
  readonly references: readonly PlatformReference[];
  readonly imageSize: number;
  readonly createdMs: number;
  updatedMs: number;
  readonly tags: Set<string>;
  attributes: ChangeableAttributes;
  timeKey: TimeKey;
}

export interface TagRecord {
  readonly name: string;
  digest: string;
  readonly createdMs: number;
  updatedMs: number;
  attributes: ChangeableAttributes;
  timeKey: TimeKey;
}

export interface RepositoryRecord {
  readonly name: string;
  createdMs: number;
  updatedMs: number;
  attributes: ChangeableAttributes;
  readonly manifests: Map<string, ManifestRecord>;
  readonly tags: Map<string, TagRecord>;
  readonly blobs: Set<string>;
  readonly referrers: Map<string, Set<string>>;
  readonly manifestsByDigest: SortedIndex<string>;
  readonly manifestsByTime: SortedIndex<TimeKey>;
  readonly tagsByName: SortedIndex<string>;
  readonly tagsByTime: SortedIndex<TimeKey>;
  /** Sort keys of recently removed entries, so a `last=` naming one still pages correctly. */
  readonly removedManifestKeys: Map<string, TimeKey>;
  readonly removedTagKeys: Map<string, TimeKey>;
}

export interface UploadSession {
  readonly uuid: string;
  readonly repository: string;
  readonly chunks: Buffer[];
  size: number;
  readonly startedMs: number;
}

export type ListOrder = "none" | "timedesc" | "timeasc";

export interface Page<T> {
  readonly items: T[];
  readonly more: boolean;
}

export interface PutManifestResult {
  readonly manifest: ManifestRecord;
  /** Tags that now point at the manifest because of this push. */
  readonly tagged: readonly string[];
  readonly created: boolean;
}

export interface DeleteRepositoryResult {
  readonly manifestsDeleted: string[];
  readonly tagsDeleted: string[];
}

const REMOVED_KEYS_KEPT = 10_000;
const MAX_UPLOAD_SESSIONS = 10_000;
const MAX_CONFIG_BYTES_PARSED = 1024 * 1024;

function rememberRemoved(map: Map<string, TimeKey>, id: string, key: TimeKey): void {
  map.set(id, key);
  if (map.size > REMOVED_KEYS_KEPT) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

interface BlobRecord {
  readonly bytes: Buffer;
  /** Repositories that link the blob; the bytes go when none does. */
  links: number;
}

export interface PutManifestOptions {
  /** Tags to point at the manifest (push by tag, or OCI `?tag=` on a push by digest). */
  readonly tags: readonly string[];
  /** Skip the referenced-blob checks (seeds that build consistent data themselves). */
  readonly trusted?: boolean;
  /** Creation time override (seeds backdate their content). */
  readonly atMs?: number;
  /** Bulk loading: append to indexes unordered and sort once on the next read. */
  readonly bulk?: boolean;
  /** Platform of an image when the caller knows it (seeds), instead of reading the config blob. */
  readonly platform?: { readonly architecture: string; readonly os: string };
}

export class RegistryStore {
  private readonly blobs = new Map<string, BlobRecord>();
  private readonly repositories = new Map<string, RepositoryRecord>();
  /** Names of repositories that hold at least one manifest (what catalogs list). */
  private readonly visibleNames = new SortedIndex<string>(compareStrings);
  private readonly uploads = new Map<string, UploadSession>();

  constructor(private readonly clock: () => number = Date.now) {}

  // ---- repositories ---------------------------------------------------------------------------

  /** A repository clients can see: it holds at least one manifest. */
  repository(name: string): RepositoryRecord | undefined {
    const repo = this.repositories.get(name);
    return repo !== undefined && repo.manifests.size > 0 ? repo : undefined;
  }

  requireRepository(name: string): RepositoryRecord {
    const repo = this.repository(name);
    if (repo === undefined) throw errors.nameUnknown(name);
    return repo;
  }

  repositoryCount(): number {
    return this.visibleNames.size;
  }

  listRepositories(last: string | undefined, limit: number): Page<string> {
    return this.visibleNames.page(last, limit, false, (name) => {
      const repo = this.repositories.get(name);
      return repo?.attributes.listEnabled === true;
    });
  }

  private ensureRepository(name: string, atMs: number): RepositoryRecord {
    let repo = this.repositories.get(name);
    if (repo === undefined) {
      repo = {
        name,
        createdMs: atMs,
        updatedMs: atMs,
        attributes: defaultAttributes(),
        manifests: new Map(),
        tags: new Map(),
        blobs: new Set(),
        referrers: new Map(),
        manifestsByDigest: new SortedIndex(compareStrings),
        manifestsByTime: new SortedIndex(compareTimeKeys),
        tagsByName: new SortedIndex(compareStrings),
        tagsByTime: new SortedIndex(compareTimeKeys),
        removedManifestKeys: new Map(),
        removedTagKeys: new Map(),
      };
      this.repositories.set(name, repo);
    }
    return repo;
  }

  updateRepositoryAttributes(name: string, patch: AttributePatch): RepositoryRecord {
    const repo = this.requireRepository(name);
    repo.attributes = { ...repo.attributes, ...patch };
    return repo;
  }

  /** Deletes every manifest and tag of the repository, unless a lock forbids any of it. */
  deleteRepository(name: string): DeleteRepositoryResult & { manifests: ManifestRecord[] } {
    const repo = this.requireRepository(name);
    if (!repo.attributes.deleteEnabled) throw errors.disallowed(`repository ${name}`);
    for (const manifest of repo.manifests.values()) {
      if (!manifest.attributes.deleteEnabled) throw errors.disallowed(`manifest ${manifest.digest}`);
    }
    for (const tag of repo.tags.values()) {
      if (!tag.attributes.deleteEnabled) throw errors.disallowed(`tag ${tag.name}`);
    }
    const manifests = [...repo.manifests.values()];
    const result = {
      manifestsDeleted: manifests.map((m) => m.digest),
      tagsDeleted: [...repo.tags.keys()],
      manifests,
    };
    for (const digest of repo.blobs) this.unlinkBlobBytes(digest);
    this.repositories.delete(name);
    this.visibleNames.remove(name);
    for (const [uuid, session] of this.uploads) if (session.repository === name) this.uploads.delete(uuid);
    return result;
  }

  // ---- blobs ----------------------------------------------------------------------------------

  /** The blob's bytes when it is linked into `repository`. */
  getBlob(repository: string, digest: string): Buffer | undefined {
    const repo = this.repositories.get(repository);
    if (repo === undefined || !repo.blobs.has(digest)) return undefined;
    return this.blobs.get(digest)?.bytes;
  }

  /** Stores bytes (already verified against `digest` by the caller) and links them into the repository. */
  putBlob(repository: string, digest: string, bytes: Buffer): void {
    const existing = this.blobs.get(digest);
    if (existing === undefined) this.blobs.set(digest, { bytes, links: 0 });
    this.linkBlob(repository, digest);
  }

  /** Links a blob that exists anywhere in the registry into `repository` (cross-repository mount). */
  linkBlob(repository: string, digest: string): boolean {
    const blob = this.blobs.get(digest);
    if (blob === undefined) return false;
    const repo = this.ensureRepository(repository, this.clock());
    if (!repo.blobs.has(digest)) {
      repo.blobs.add(digest);
      blob.links += 1;
    }
    return true;
  }

  deleteBlob(repository: string, digest: string): boolean {
    const repo = this.repositories.get(repository);
    if (repo === undefined || !repo.blobs.has(digest)) return false;
    repo.blobs.delete(digest);
    this.unlinkBlobBytes(digest);
    return true;
  }

  private unlinkBlobBytes(digest: string): void {
    const blob = this.blobs.get(digest);
    if (blob === undefined) return;
    blob.links -= 1;
    if (blob.links <= 0) this.blobs.delete(digest);
  }

  blobCount(): number {
    return this.blobs.size;
  }

  // ---- uploads --------------------------------------------------------------------------------

  startUpload(repository: string): UploadSession {
    if (this.uploads.size >= MAX_UPLOAD_SESSIONS) {
      const oldest = this.uploads.keys().next();
      if (!oldest.done) this.uploads.delete(oldest.value);
    }
    const session: UploadSession = {
      uuid: randomUUID(),
      repository,
      chunks: [],
      size: 0,
      startedMs: this.clock(),
    };
    this.uploads.set(session.uuid, session);
    return session;
  }

  upload(repository: string, uuid: string): UploadSession {
    const session = this.uploads.get(uuid);
    if (session === undefined || session.repository !== repository) throw errors.uploadUnknown(uuid);
    return session;
  }

  endUpload(uuid: string): void {
    this.uploads.delete(uuid);
  }

  // ---- manifests ------------------------------------------------------------------------------

  /** By tag or digest. */
  resolve(repository: string, reference: string): ManifestRecord | undefined {
    const repo = this.repository(repository);
    if (repo === undefined) return undefined;
    if (reference.includes(":")) return repo.manifests.get(reference);
    const tag = repo.tags.get(reference);
    return tag === undefined ? undefined : repo.manifests.get(tag.digest);
  }

  tag(repository: string, name: string): TagRecord | undefined {
    return this.repository(repository)?.tags.get(name);
  }

  putManifest(
    repository: string,
    bytes: Buffer,
    parsed: ParsedManifest,
    options: PutManifestOptions,
  ): PutManifestResult {
    if (bytes.length > MAX_MANIFEST_BYTES) throw errors.manifestInvalid("the manifest is larger than 4 MiB");
    const now = options.atMs ?? this.clock();
    const digest = sha256Digest(bytes);
    const existingRepo = this.repositories.get(repository);
    if (existingRepo !== undefined) this.checkWriteAllowed(existingRepo, digest, options.tags);
    if (!options.trusted) this.checkReferences(repository, parsed);

    const repo = this.ensureRepository(repository, now);
    let manifest = repo.manifests.get(digest);
    const created = manifest === undefined;
    if (manifest === undefined) {
      manifest = this.buildManifestRecord(repository, digest, bytes, parsed, now, options.platform);
      repo.manifests.set(digest, manifest);
      if (options.bulk) {
        repo.manifestsByDigest.insertUnordered(digest);
        repo.manifestsByTime.insertUnordered(manifest.timeKey);
      } else {
        repo.manifestsByDigest.insert(digest);
        repo.manifestsByTime.insert(manifest.timeKey);
      }
      repo.removedManifestKeys.delete(digest);
      if (manifest.subjectDigest !== undefined) {
        let set = repo.referrers.get(manifest.subjectDigest);
        if (set === undefined) {
          set = new Set();
          repo.referrers.set(manifest.subjectDigest, set);
        }
        set.add(digest);
      }
      if (repo.manifests.size === 1) {
        repo.createdMs = Math.min(repo.createdMs, now);
        if (options.bulk) this.visibleNames.insertUnordered(repository);
        else this.visibleNames.insert(repository);
      }
    }
    const tagged: string[] = [];
    for (const tagName of options.tags) {
      if (this.pointTag(repo, tagName, manifest, now, options.bulk ?? false)) tagged.push(tagName);
    }
    if (!created && tagged.length > 0) this.touchManifest(repo, manifest, now);
    repo.updatedMs = Math.max(repo.updatedMs, now);
    return { manifest, tagged, created };
  }

  private checkWriteAllowed(repo: RepositoryRecord, digest: string, tags: readonly string[]): void {
    const moves = tags.filter((name) => repo.tags.get(name)?.digest !== digest);
    const isNew = !repo.manifests.has(digest);
    if (!isNew && moves.length === 0) return; // an idempotent re-push changes nothing
    if (!repo.attributes.writeEnabled) throw errors.disallowed(`repository ${repo.name}`);
    for (const name of moves) {
      const existing = repo.tags.get(name);
      if (existing === undefined) continue;
      if (!existing.attributes.writeEnabled) throw errors.disallowed(`tag ${name}`);
      const current = repo.manifests.get(existing.digest);
      if (current !== undefined && !current.attributes.writeEnabled) {
        throw errors.disallowed(`manifest ${current.digest}`);
      }
    }
  }

  private checkReferences(repository: string, parsed: ParsedManifest): void {
    const repo = this.repositories.get(repository);
    const needBlob = (descriptor: Descriptor) => {
      if (isNonDistributable(descriptor)) return;
      if (repo === undefined || !repo.blobs.has(descriptor.digest) || !this.blobs.has(descriptor.digest)) {
        throw errors.manifestBlobUnknown(descriptor.digest);
      }
    };
    if (parsed.config !== undefined) needBlob(parsed.config);
    for (const blob of parsed.blobs) needBlob(blob);
    for (const child of parsed.manifests) {
      if (repo === undefined || !repo.manifests.has(child.digest))
        throw errors.manifestBlobUnknown(child.digest);
    }
  }

  private buildManifestRecord(
    repository: string,
    digest: string,
    bytes: Buffer,
    parsed: ParsedManifest,
    now: number,
    platform: { readonly architecture: string; readonly os: string } | undefined,
  ): ManifestRecord {
    let architecture = platform?.architecture;
    let os = platform?.os;
    if (parsed.config !== undefined && platform === undefined) {
      const config = this.getBlob(repository, parsed.config.digest);
      if (config !== undefined && config.length <= MAX_CONFIG_BYTES_PARSED) {
        try {
          const json = JSON.parse(config.toString("utf8")) as { architecture?: unknown; os?: unknown };
          if (typeof json.architecture === "string" && json.architecture !== "")
            architecture = json.architecture;
          if (typeof json.os === "string" && json.os !== "") os = json.os;
        } catch {
          // Not JSON (an artifact config): no platform.
        }
      }
    }
    const references: readonly PlatformReference[] =
      parsed.manifests.length === 0
        ? NO_REFERENCES
        : parsed.manifests.map((child) => ({
            digest: child.digest,
            ...(child.platform?.architecture !== undefined
              ? { architecture: child.platform.architecture }
              : {}),
            ...(child.platform?.os !== undefined ? { os: child.platform.os } : {}),
          }));
    const imageSize = parsed.isIndex
      ? bytes.length
      : bytes.length + (parsed.config?.size ?? 0) + parsed.blobs.reduce((sum, b) => sum + b.size, 0);
    return {
      digest,
      mediaType: parsed.mediaType,
      bytes,
      isIndex: parsed.isIndex,
      configDigest: parsed.config?.digest,
      configMediaType: parsed.config?.mediaType,
      blobDigests: [
        ...(parsed.config !== undefined ? [parsed.config.digest] : []),
        ...parsed.blobs.map((b) => b.digest),
      ],
      childDigests: parsed.manifests.length === 0 ? NO_STRINGS : parsed.manifests.map((m) => m.digest),
      subjectDigest: parsed.subject?.digest,
      artifactType: effectiveArtifactType(parsed),
      annotations: parsed.annotations,
      architecture,
      os,
      references,
      imageSize,
      createdMs: now,
      updatedMs: now,
      tags: new Set(),
      attributes: defaultAttributes(),
      timeKey: { time: now, id: digest },
    };
  }

  /** Points `name` at `manifest`; false when it already pointed there. */
  private pointTag(
    repo: RepositoryRecord,
    name: string,
    manifest: ManifestRecord,
    now: number,
    bulk: boolean,
  ): boolean {
    const existing = repo.tags.get(name);
    if (existing !== undefined) {
      if (existing.digest === manifest.digest) return false;
      repo.manifests.get(existing.digest)?.tags.delete(name);
      existing.digest = manifest.digest;
      this.touchTag(repo, existing, now);
    } else {
      const tag: TagRecord = {
        name,
        digest: manifest.digest,
        createdMs: now,
        updatedMs: now,
        attributes: defaultAttributes(),
        timeKey: { time: now, id: name },
      };
      repo.tags.set(name, tag);
      repo.removedTagKeys.delete(name);
      if (bulk) {
        repo.tagsByName.insertUnordered(name);
        repo.tagsByTime.insertUnordered(tag.timeKey);
      } else {
        repo.tagsByName.insert(name);
        repo.tagsByTime.insert(tag.timeKey);
      }
    }
    manifest.tags.add(name);
    return true;
  }

  private touchTag(repo: RepositoryRecord, tag: TagRecord, now: number): void {
    repo.tagsByTime.remove(tag.timeKey);
    tag.updatedMs = Math.max(now, tag.updatedMs);
    tag.timeKey = { time: tag.updatedMs, id: tag.name };
    repo.tagsByTime.insert(tag.timeKey);
  }

  private touchManifest(repo: RepositoryRecord, manifest: ManifestRecord, now: number): void {
    repo.manifestsByTime.remove(manifest.timeKey);
    manifest.updatedMs = Math.max(now, manifest.updatedMs);
    manifest.timeKey = { time: manifest.updatedMs, id: manifest.digest };
    repo.manifestsByTime.insert(manifest.timeKey);
  }

  updateManifestAttributes(repository: string, digest: string, patch: AttributePatch): ManifestRecord {
    const repo = this.requireRepository(repository);
    const manifest = repo.manifests.get(digest);
    if (manifest === undefined) throw errors.manifestUnknown(digest);
    manifest.attributes = { ...manifest.attributes, ...patch };
    this.touchManifest(repo, manifest, this.clock());
    return manifest;
  }

  updateTagAttributes(repository: string, name: string, patch: AttributePatch): TagRecord {
    const repo = this.requireRepository(repository);
    const tag = repo.tags.get(name);
    if (tag === undefined) throw errors.tagUnknown(name);
    tag.attributes = { ...tag.attributes, ...patch };
    this.touchTag(repo, tag, this.clock());
    return tag;
  }

  /** Deletes a manifest and its tags; refused when the repository, the manifest or one of its tags is delete-locked. */
  deleteManifest(repository: string, digest: string): ManifestRecord {
    const repo = this.requireRepository(repository);
    const manifest = repo.manifests.get(digest);
    if (manifest === undefined) throw errors.manifestUnknown(digest);
    if (!repo.attributes.deleteEnabled) throw errors.disallowed(`repository ${repository}`);
    if (!manifest.attributes.deleteEnabled) throw errors.disallowed(`manifest ${digest}`);
    for (const name of manifest.tags) {
      if (repo.tags.get(name)?.attributes.deleteEnabled === false) throw errors.disallowed(`tag ${name}`);
    }
    for (const name of [...manifest.tags]) this.removeTag(repo, name);
    repo.manifests.delete(digest);
    repo.manifestsByDigest.remove(digest);
    repo.manifestsByTime.remove(manifest.timeKey);
    rememberRemoved(repo.removedManifestKeys, digest, manifest.timeKey);
    if (manifest.subjectDigest !== undefined) {
      const set = repo.referrers.get(manifest.subjectDigest);
      set?.delete(digest);
      if (set?.size === 0) repo.referrers.delete(manifest.subjectDigest);
    }
    repo.updatedMs = Math.max(repo.updatedMs, this.clock());
    if (repo.manifests.size === 0) this.visibleNames.remove(repository);
    return manifest;
  }

  /** Removes a tag (the manifest stays); refused when the tag or repository is delete-locked. */
  deleteTag(repository: string, name: string): TagRecord {
    const repo = this.requireRepository(repository);
    const tag = repo.tags.get(name);
    if (tag === undefined) throw errors.tagUnknown(name);
    if (!repo.attributes.deleteEnabled) throw errors.disallowed(`repository ${repository}`);
    if (!tag.attributes.deleteEnabled) throw errors.disallowed(`tag ${name}`);
    this.removeTag(repo, name);
    return tag;
  }

  private removeTag(repo: RepositoryRecord, name: string): void {
    const tag = repo.tags.get(name);
    if (tag === undefined) return;
    repo.tags.delete(name);
    repo.tagsByName.remove(name);
    repo.tagsByTime.remove(tag.timeKey);
    rememberRemoved(repo.removedTagKeys, name, tag.timeKey);
    repo.manifests.get(tag.digest)?.tags.delete(name);
  }

  referrers(repository: string, subject: string): ManifestRecord[] {
    const repo = this.repository(repository);
    const digests = repo?.referrers.get(subject);
    if (repo === undefined || digests === undefined) return [];
    return [...digests]
      .map((d) => repo.manifests.get(d))
      .filter((m): m is ManifestRecord => m !== undefined)
      .sort((a, b) => compareStrings(a.digest, b.digest));
  }

  // ---- listings -------------------------------------------------------------------------------

  listTags(
    repository: string,
    options: { last?: string; limit: number; order: ListOrder; digest?: string; includeHidden?: boolean },
  ): Page<TagRecord> {
    const repo = this.requireRepository(repository);
    const accept = (tag: TagRecord | undefined): tag is TagRecord =>
      tag !== undefined &&
      (options.includeHidden === true || tag.attributes.listEnabled) &&
      (options.digest === undefined || tag.digest === options.digest);
    if (options.order === "none") {
      const page = repo.tagsByName.page(options.last, options.limit, false, (name) =>
        accept(repo.tags.get(name)),
      );
      return { items: page.items.map((name) => repo.tags.get(name) as TagRecord), more: page.more };
    }
    let after: TimeKey | undefined;
    if (options.last !== undefined) {
      after = repo.tags.get(options.last)?.timeKey ?? repo.removedTagKeys.get(options.last);
      if (after === undefined) return { items: [], more: false };
    }
    const page = repo.tagsByTime.page(after, options.limit, options.order === "timedesc", (key) =>
      accept(repo.tags.get(key.id)),
    );
    return { items: page.items.map((key) => repo.tags.get(key.id) as TagRecord), more: page.more };
  }

  listManifests(
    repository: string,
    options: { last?: string; limit: number; order: ListOrder },
  ): Page<ManifestRecord> {
    const repo = this.requireRepository(repository);
    const accept = (m: ManifestRecord | undefined): m is ManifestRecord => m?.attributes.listEnabled === true;
    if (options.order === "none") {
      const page = repo.manifestsByDigest.page(options.last, options.limit, false, (d) =>
        accept(repo.manifests.get(d)),
      );
      return { items: page.items.map((d) => repo.manifests.get(d) as ManifestRecord), more: page.more };
    }
    let after: TimeKey | undefined;
    if (options.last !== undefined) {
      after = repo.manifests.get(options.last)?.timeKey ?? repo.removedManifestKeys.get(options.last);
      if (after === undefined) return { items: [], more: false };
    }
    const page = repo.manifestsByTime.page(after, options.limit, options.order === "timedesc", (key) =>
      accept(repo.manifests.get(key.id)),
    );
    return { items: page.items.map((key) => repo.manifests.get(key.id) as ManifestRecord), more: page.more };
  }

  /** Totals for stats and tests. */
  counts(): { repositories: number; manifests: number; tags: number; blobs: number; uploads: number } {
    let manifests = 0;
    let tags = 0;
    for (const repo of this.repositories.values()) {
      manifests += repo.manifests.size;
      tags += repo.tags.size;
    }
    return {
      repositories: this.visibleNames.size,
      manifests,
      tags,
      blobs: this.blobs.size,
      uploads: this.uploads.size,
    };
  }
}
