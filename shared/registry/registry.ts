import type { Readable } from "node:stream";
import type { ImageReference } from "./imageReference.js";

/**
 * The `Registry` port: everything acr-steward reads from or changes in a container registry.
 * Two adapters implement it: `AcrRegistry` (Azure Container Registry, through
 * `@azure/container-registry`) and `OciRegistry` (any OCI distribution registry). Metadata that
 * only ACR has is `undefined` ("unknown") on other registries, never guessed.
 *
 * Listings are async iterables that fetch page by page and follow `Link` to the end. A listing
 * that cannot be finished throws `PartialListingError` (shared/errors) after the items it could
 * read: a `for await` loop that ends without an exception saw the complete listing.
 */
export interface Registry extends RegistryContent {
  /** Login server, lower case (`myregistry.azurecr.io`, `127.0.0.1:5000`). */
  readonly loginServer: string;
  readonly kind: RegistryKind;
  readonly capabilities: RegistryCapabilities;

  listRepositories(options?: ListOptions): AsyncIterable<string>;
  listTags(repository: string, options?: ListOptions): AsyncIterable<TagInfo>;
  /**
   * Manifests with metadata. On ACR every manifest (tagged or not); on other registries only the
   * manifests that tags point to (see `capabilities.listsUntaggedManifests`).
   */
  listManifests(repository: string, options?: ManifestListOptions): AsyncIterable<ManifestSummary>;
  /** Manifests whose `subject` is `digest` (signatures, SBOMs), from the OCI referrers API. */
  listReferrers(repository: string, digest: string): Promise<readonly Descriptor[]>;

  inspect(reference: ImageReference): Promise<ManifestDetails>;
  /** One HEAD request; false when the repository, tag or digest does not exist. */
  exists(reference: ImageReference): Promise<boolean>;
  /** Deletes the manifest (all its tags go with it). A manifest already gone counts as deleted. */
  deleteManifest(repository: string, digest: string): Promise<void>;
  /** Removes one tag; the manifest stays. A tag already gone counts as removed. */
  untag(repository: string, tag: string): Promise<void>;
  /** Changes ACR's changeable attributes of a manifest; returns them as they are afterwards. */
  setLocks(reference: ImageReference, change: Partial<Locks>): Promise<Locks>;
}

/**
 * Content-addressed reads and writes: what `copyImage` needs, on both registries of a copy.
 */
export interface RegistryContent {
  /** The manifest bytes exactly as stored (so that digests are preserved on copy); cached by digest. */
  getManifest(repository: string, reference: string): Promise<ManifestContent>;
  /** Stores a manifest under a tag or its digest; returns the digest the registry computed. */
  putManifest(repository: string, reference: string, content: ManifestContent): Promise<string>;
  hasBlob(repository: string, digest: string): Promise<boolean>;
  /** Cross-repository mount inside this registry; false when the registry declined (then upload). */
  mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean>;
  openBlob(repository: string, digest: string): Promise<BlobStream>;
  /** Uploads a blob; `open` is called again for each attempt, so streams are never replayed. */
  uploadBlob(repository: string, digest: string, size: number, open: () => Promise<Readable>): Promise<void>;
}

export type RegistryKind = "acr" | "oci";

export interface RegistryCapabilities {
  /** Whether `listManifests` sees untagged manifests too (ACR) or only tagged ones (plain OCI). */
  readonly listsUntaggedManifests: boolean;
  /** Locks (`deleteEnabled`, `writeEnabled`...) exist (ACR only). */
  readonly locks: boolean;
  /** Listings can be ordered by last update time (ACR only). */
  readonly orderByTime: boolean;
}

export interface ListOptions {
  /** Entries per page (`n`); registries may cap it. */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

export interface ManifestListOptions extends ListOptions {
  /** Order by last update time; registries that cannot order refuse rather than pretend. */
  readonly order?: "newest-first" | "oldest-first";
}

export interface Locks {
  readonly deleteEnabled: boolean;
  readonly writeEnabled: boolean;
  readonly readEnabled: boolean;
  readonly listEnabled: boolean;
}

export interface Platform {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
}

export interface Descriptor {
  readonly digest: string;
  readonly mediaType?: string;
  readonly size?: number;
  readonly artifactType?: string;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface TagInfo {
  readonly name: string;
  /** ACR lists it with the tag; plain OCI tag lists do not (undefined). */
  readonly digest?: string;
  /** ACR only. */
  readonly createdAt?: Date;
  readonly updatedAt?: Date;
  readonly locks?: Locks;
}

export interface ManifestSummary {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  /** Unknown (undefined) when the listing does not say. */
  readonly mediaType?: string;
  /** The OCI `artifactType`, or a config media type that is not an image config: signatures, SBOMs... */
  readonly artifactType?: string;
  /** Media type of the config blob (ACR's `configMediaType`); tells images from other artifacts. */
  readonly configMediaType?: string;
  /** ACR's image size; elsewhere the manifest, config and layer sizes added up. */
  readonly sizeBytes?: number;
  readonly createdAt?: Date;
  readonly updatedAt?: Date;
  readonly architecture?: string;
  readonly os?: string;
  readonly tags: readonly string[];
  /** ACR only; undefined elsewhere. */
  readonly locks?: Locks;
  /** For an index: the manifests it references, with their platforms when known. */
  readonly children: readonly Descriptor[];
}

export interface ManifestDetails extends ManifestSummary {
  readonly mediaType: string;
  /** Size of the manifest document itself. */
  readonly manifestSizeBytes: number;
  /** Where `createdAt` comes from: ACR's attributes or the image config's `created` field. */
  readonly createdFrom?: "registry" | "image-config";
  /** Tags pointing at this manifest (all of them when `tagsKnown`, else only the one asked for). */
  readonly tags: readonly string[];
  /** False on registries that cannot say which tags point at a digest without scanning every tag. */
  readonly tagsKnown: boolean;
  /** Per-platform children of an index (every entry of `manifests`). */
  readonly platforms: readonly (Platform & { readonly digest: string })[];
  /** The manifest this one refers to (signatures, SBOMs, attestations). */
  readonly subject?: Descriptor;
  readonly config?: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ManifestContent {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
}

export interface BlobStream {
  readonly size: number | undefined;
  readonly stream: Readable;
}
