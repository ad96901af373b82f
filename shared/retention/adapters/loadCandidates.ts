import { ensureError, PartialListingError } from "../../errors/index.js";
import { LruCache } from "../../registry/cache.js";
import { mapConcurrent } from "../../registry/listing.js";
import { parseManifest } from "../../registry/ociManifest.js";
import type { ManifestSummary, TagInfo } from "../../registry/registry.js";
import {
  type RepositoryListing,
  type RetentionCandidate,
  type RetentionTag,
  SINGLE_MANIFEST_MEDIA_TYPES,
} from "../candidates.js";
import type { RegistryReader } from "./registryRetention.js";

/**
 * Turns what a registry says about one repository into the planner's input.
 *
 * - Manifests come from the manifest listing (ACR: every manifest, tagged or not, with sizes, times,
 *   locks and an index's references); tag times and tag locks from the tag listing.
 * - Every manifest that could carry an OCI `subject` or be an index is read once (GET manifest),
 *   because the listing says nothing about subjects and a referrer mistaken for a plain image could
 *   be deleted while its image stays. Manifest content is addressed by digest, so what was read is
 *   remembered for the life of the process. Docker schema 2 manifests can have neither and are not read.
 * - A manifest that cannot be read is handed over as `metadataReadable: false` (the planner keeps it,
 *   and deletes nothing in a repository where it might be an index).
 * - A listing that stopped early, or whose tag listing contradicts its manifest listing (something
 *   was pushed in between), is marked `listingComplete: false`: the planner then decides nothing.
 */
export interface LoadCandidatesOptions {
  /** Manifest reads in flight at once (the registry layer also limits per login server). Default 8. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Entries per listing page (the registry's default when absent). */
  readonly pageSize?: number;
  /** Called as manifests are listed and read, for progress displays. */
  readonly onProgress?: (progress: { readonly listed: number; readonly read: number }) => void;
}

interface ManifestFacts {
  readonly mediaType: string;
  readonly artifactType: string | undefined;
  readonly children: readonly string[];
  readonly subject: string | undefined;
}

/** Facts from manifest content, keyed by registry, repository and digest: immutable, so cached for good. */
const factsCache = new LruCache<string, ManifestFacts>({ maxEntries: 200_000 });

const SUBJECTLESS_MEDIA_TYPES: ReadonlySet<string> = new Set([
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
]);

/**
 * Loads one repository's manifests as retention candidates.
 * @throws NotFoundError when the repository does not exist; other errors before the first page as they are.
 */
export async function loadRetentionCandidates(
  registry: RegistryReader,
  repository: string,
  options: LoadCandidatesOptions = {},
): Promise<RepositoryListing> {
  const listOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
  };
  let listingComplete = true;
  const summaries: ManifestSummary[] = [];
  try {
    for await (const summary of registry.listManifests(repository, listOptions)) {
      summaries.push(summary);
      if (summaries.length % 500 === 0) options.onProgress?.({ listed: summaries.length, read: 0 });
    }
  } catch (error) {
    if (!(error instanceof PartialListingError)) throw error;
    listingComplete = false;
  }

  const tagInfo = new Map<string, TagInfo>();
  try {
    for await (const tag of registry.listTags(repository, listOptions)) {
      tagInfo.set(tag.name, tag);
    }
  } catch (error) {
    if (!(error instanceof PartialListingError)) throw error;
    listingComplete = false;
  }
  if (
    listingComplete &&
    !tagListingAgrees(summaries, tagInfo, registry.capabilities.listsUntaggedManifests)
  ) {
    listingComplete = false;
  }

  let read = 0;
  const manifests = await mapConcurrent(summaries, options.concurrency ?? 8, async (summary) => {
    const facts = await readFacts(registry, repository, summary);
    read += 1;
    if (read % 100 === 0) options.onProgress?.({ listed: summaries.length, read });
    return toCandidate(summary, facts, tagInfo);
  });
  options.onProgress?.({ listed: summaries.length, read });
  return { registry: registry.loginServer, repository, listingComplete, manifests };
}

/**
 * Both listings must tell the same story: every tag the tag listing points at a manifest is on that
 * manifest in the manifest listing, and the other way round. Plain OCI tag listings carry no digests.
 */
function tagListingAgrees(
  summaries: readonly ManifestSummary[],
  tags: ReadonlyMap<string, TagInfo>,
  listsEverything: boolean,
): boolean {
  const owner = new Map<string, string>();
  for (const summary of summaries) for (const tag of summary.tags) owner.set(tag, summary.digest);
  for (const [name, info] of tags) {
    if (info.digest === undefined) continue;
    const listedOn = owner.get(name);
    if (listedOn === undefined ? listsEverything : listedOn !== info.digest) return false;
  }
  for (const name of owner.keys()) if (!tags.has(name)) return false;
  return true;
}

type FactsResult =
  | { readonly readable: true; readonly facts: ManifestFacts | undefined }
  | { readonly readable: false };

async function readFacts(
  registry: RegistryReader,
  repository: string,
  summary: ManifestSummary,
): Promise<FactsResult> {
  if (summary.mediaType !== undefined && SUBJECTLESS_MEDIA_TYPES.has(summary.mediaType)) {
    return { readable: true, facts: undefined };
  }
  const key = `${registry.loginServer}/${repository}@${summary.digest}`;
  const cached = factsCache.get(key);
  if (cached) return { readable: true, facts: cached };
  try {
    const content = await registry.getManifest(repository, summary.digest);
    if (content.digest !== summary.digest) return { readable: false };
    const parsed = parseManifest(content.bytes, content.mediaType, `${repository}@${summary.digest}`);
    const facts: ManifestFacts = {
      mediaType: parsed.mediaType,
      artifactType: parsed.artifactType,
      children: parsed.children.map((child) => child.digest),
      subject: parsed.subject?.digest,
    };
    factsCache.set(key, facts);
    return { readable: true, facts };
  } catch (error) {
    // Fail closed: whatever the reason (gone meanwhile, throttled for good, not JSON), the planner keeps it.
    void ensureError(error);
    return { readable: false };
  }
}

function toCandidate(
  summary: ManifestSummary,
  result: FactsResult,
  tagInfo: ReadonlyMap<string, TagInfo>,
): RetentionCandidate {
  const facts = result.readable ? result.facts : undefined;
  const mediaType = facts?.mediaType ?? summary.mediaType;
  const artifactType = facts?.artifactType ?? summary.artifactType;
  const children = new Set(summary.children.map((child) => child.digest));
  for (const child of facts?.children ?? []) children.add(child);
  const tags = summary.tags.map((name): RetentionTag => {
    const info = tagInfo.get(name);
    const updated = info?.updatedAt ?? info?.createdAt;
    return {
      name,
      ...(updated && !Number.isNaN(updated.getTime()) ? { updatedAt: updated.toISOString() } : {}),
      ...(info?.locks
        ? { deleteEnabled: info.locks.deleteEnabled, writeEnabled: info.locks.writeEnabled }
        : {}),
    };
  });
  const iso = (date: Date | undefined) =>
    date !== undefined && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined;
  const pushedAt = iso(summary.createdAt);
  const updatedAt = iso(summary.updatedAt);
  // A manifest whose kind is unknown and that was not read might be an index: say it is unreadable.
  const readable =
    result.readable &&
    (facts !== undefined || (mediaType !== undefined && SINGLE_MANIFEST_MEDIA_TYPES.has(mediaType)));
  return {
    digest: summary.digest,
    ...(mediaType === undefined ? {} : { mediaType }),
    ...(artifactType === undefined ? {} : { artifactType }),
    sizeInBytes: summary.sizeBytes ?? 0,
    ...(pushedAt === undefined ? {} : { pushedAt }),
    ...(updatedAt === undefined ? {} : { updatedAt }),
    tags,
    deleteEnabled: summary.locks?.deleteEnabled ?? true,
    writeEnabled: summary.locks?.writeEnabled ?? true,
    children: [...children].sort(),
    ...(facts?.subject === undefined ? {} : { subject: facts.subject }),
    metadataReadable: readable,
  };
}
