import { UnavailableError } from "../errors/index.js";
import type { ManifestDescription } from "../inventory/model.js";
import type { ManifestEnricher } from "../inventory/ports.js";
import { isImageConfig, MEDIA_TYPES } from "../registry/ociManifest.js";
import type { ManifestDetails, ManifestSummary, Registry } from "../registry/registry.js";

/**
 * What the inventory records about a digest's content, read once per digest: a digest's content never
 * changes. ACR's manifest listing already carries platform, size and creation time of images and the
 * platforms of an index's children, so a sweep describes those digests without another call; only
 * artifacts whose listing entry cannot say what they refer to (signatures, SBOMs: their `subject`)
 * cost a manifest read.
 */

const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);

export function isIndexSummary(summary: Pick<ManifestSummary, "mediaType" | "children">): boolean {
  return summary.mediaType !== undefined ? INDEX_TYPES.has(summary.mediaType) : summary.children.length > 0;
}

/** A description from the listing alone, or undefined when the listing cannot tell enough. */
export function describeFromListing(summary: ManifestSummary): ManifestDescription | undefined {
  const common = {
    ...(summary.createdAt === undefined ? {} : { createdAt: summary.createdAt.toISOString() }),
    ...(summary.sizeBytes === undefined ? {} : { sizeInBytes: summary.sizeBytes }),
    ...(summary.artifactType === undefined ? {} : { artifactType: summary.artifactType }),
    ...(summary.configMediaType === undefined ? {} : { configMediaType: summary.configMediaType }),
  };
  if (isIndexSummary(summary)) {
    if (summary.children.length === 0) return undefined;
    return {
      ...common,
      platforms: summary.children.flatMap((child) =>
        child.platform?.architecture !== undefined && child.platform.os !== undefined
          ? [
              {
                architecture: child.platform.architecture,
                os: child.platform.os,
                ...(child.platform.variant === undefined ? {} : { variant: child.platform.variant }),
              },
            ]
          : [],
      ),
      children: summary.children.map((child) => child.digest),
    };
  }
  if (!isImageConfig(summary.configMediaType) || summary.artifactType !== undefined) return undefined;
  return {
    ...common,
    platforms:
      summary.architecture !== undefined && summary.os !== undefined
        ? [{ architecture: summary.architecture, os: summary.os }]
        : [],
    children: [],
  };
}

export function describeFromDetails(details: ManifestDetails): ManifestDescription {
  const platforms =
    details.platforms.length > 0
      ? details.platforms.flatMap((platform) =>
          platform.architecture !== undefined && platform.os !== undefined
            ? [
                {
                  architecture: platform.architecture,
                  os: platform.os,
                  ...(platform.variant === undefined ? {} : { variant: platform.variant }),
                },
              ]
            : [],
        )
      : details.architecture !== undefined && details.os !== undefined
        ? [{ architecture: details.architecture, os: details.os }]
        : [];
  return {
    platforms,
    ...(details.createdAt === undefined ? {} : { createdAt: details.createdAt.toISOString() }),
    ...(details.sizeBytes === undefined ? {} : { sizeInBytes: details.sizeBytes }),
    children: details.children.map((child) => child.digest),
    ...(details.subject === undefined ? {} : { subject: details.subject.digest }),
    ...(details.artifactType === undefined ? {} : { artifactType: details.artifactType }),
    ...(details.configMediaType === undefined ? {} : { configMediaType: details.configMediaType }),
  };
}

/**
 * The inventory's enricher during sweeps: answers from the listing being reconciled when it can,
 * and reads the registry otherwise. One instance serves concurrent repositories.
 */
export class ListingEnricher implements ManifestEnricher {
  readonly #listed = new Map<string, ManifestSummary>();
  readonly #registries: (registry: string) => Registry | undefined;
  /** Descriptions this enricher produced, per digest, while a listing was registered. */
  readonly #described = new Map<string, ManifestDescription>();
  #registryReads = 0;

  /** @param registries the open registry for a login server (undefined: cannot read it). */
  constructor(registries: (registry: string) => Registry | undefined) {
    this.#registries = registries;
  }

  /** Registry reads made for digests the listing could not describe. */
  get registryReads(): number {
    return this.#registryReads;
  }

  /**
   * Runs `work` (the inventory writes of one repository) with the listing available to `describe`;
   * returns what `work` returned and the descriptions made meanwhile.
   */
  async withListing<T>(
    summaries: readonly ManifestSummary[],
    work: () => Promise<T>,
  ): Promise<{ result: T; described: Map<string, ManifestDescription> }> {
    const keys = summaries.map((summary) => key(summary.registry, summary.repository, summary.digest));
    summaries.forEach((summary, index) => {
      this.#listed.set(keys[index] as string, summary);
    });
    try {
      const result = await work();
      const described = new Map<string, ManifestDescription>();
      for (const [index, summary] of summaries.entries()) {
        const description = this.#described.get(keys[index] as string);
        if (description !== undefined) described.set(summary.digest, description);
      }
      return { result, described };
    } finally {
      for (const listedKey of keys) {
        this.#listed.delete(listedKey);
        this.#described.delete(listedKey);
      }
    }
  }

  async describe(registry: string, repository: string, digest: string): Promise<ManifestDescription> {
    const listedKey = key(registry, repository, digest);
    const summary = this.#listed.get(listedKey);
    let description = summary === undefined ? undefined : describeFromListing(summary);
    if (description === undefined) {
      const client = this.#registries(registry);
      if (client === undefined) throw new UnavailableError(`no registry reader for ${registry}`);
      this.#registryReads += 1;
      description = describeFromDetails(await client.inspect({ repository, digest }));
    }
    if (summary !== undefined) this.#described.set(listedKey, description);
    return description;
  }
}

function key(registry: string, repository: string, digest: string): string {
  return `${registry}|${repository}|${digest}`;
}
