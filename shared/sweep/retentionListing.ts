import type { ManifestDescription } from "../inventory/model.js";
import type { ManifestSummary, TagInfo } from "../registry/registry.js";
import type { RepositoryListing, RetentionCandidate } from "../retention/candidates.js";

/**
 * What the retention planner decides on, built from a sweep's listing. Tag times and tag locks come
 * from the tag listing when given (ACR's manifest listing has neither); without it a tag counts as
 * set when the manifest last changed, which can only make it look younger (kept longer). A digest
 * without a content description is unreadable for the planner, so it fails closed on it.
 */
export function retentionListingOf(
  registry: string,
  repository: string,
  manifests: readonly ManifestSummary[],
  descriptions: ReadonlyMap<string, ManifestDescription>,
  tags: { readonly complete: boolean; readonly items: readonly TagInfo[] } | undefined,
): RepositoryListing {
  const tagInfo = new Map((tags?.items ?? []).map((tag) => [tag.name, tag]));
  const candidates = manifests.map((summary): RetentionCandidate => {
    const description = descriptions.get(summary.digest);
    const updatedAt = summary.updatedAt ?? summary.createdAt;
    return {
      digest: summary.digest,
      ...(summary.mediaType === undefined ? {} : { mediaType: summary.mediaType }),
      ...(summary.artifactType === undefined ? {} : { artifactType: summary.artifactType }),
      sizeInBytes: Math.max(0, Math.round(summary.sizeBytes ?? description?.sizeInBytes ?? 0)),
      ...(summary.createdAt === undefined ? {} : { pushedAt: summary.createdAt.toISOString() }),
      ...(updatedAt === undefined ? {} : { updatedAt: updatedAt.toISOString() }),
      tags: summary.tags.map((name) => {
        const info = tagInfo.get(name);
        const tagUpdated = info?.updatedAt ?? updatedAt;
        return {
          name,
          ...(tagUpdated === undefined ? {} : { updatedAt: tagUpdated.toISOString() }),
          ...(info?.locks === undefined
            ? {}
            : { deleteEnabled: info.locks.deleteEnabled, writeEnabled: info.locks.writeEnabled }),
        };
      }),
      deleteEnabled: summary.locks?.deleteEnabled ?? true,
      writeEnabled: summary.locks?.writeEnabled ?? true,
      children:
        summary.children.length > 0
          ? summary.children.map((child) => child.digest)
          : [...(description?.children ?? [])],
      ...(description?.subject === undefined ? {} : { subject: description.subject }),
      metadataReadable: description !== undefined,
    };
  });
  return {
    registry,
    repository,
    listingComplete: tags === undefined || tags.complete,
    manifests: candidates,
  };
}
