import { GuardError, NotFoundError, StewardError, UnsupportedOperationError } from "../../errors/index.js";
import type { Registry } from "../../registry/registry.js";
import type { RetentionRegistry } from "../ports.js";

/**
 * The registry as retention sees it. Planning and previews get a `RegistryReader`: a view that has
 * no delete, untag, write or lock method at all, so a preview cannot change the registry even by a
 * mistake in our own code. Only `RegistryRetentionActions` (built from the full `Registry`) deletes,
 * and only the executor calls it.
 */
export type RegistryReader = Pick<
  Registry,
  | "loginServer"
  | "kind"
  | "capabilities"
  | "listRepositories"
  | "listTags"
  | "listManifests"
  | "listReferrers"
  | "inspect"
  | "exists"
  | "getManifest"
>;

/** A read-only view of a registry: a new object holding only the read methods, bound to the registry. */
export function readOnlyRegistry(registry: RegistryReader): RegistryReader {
  return Object.freeze({
    loginServer: registry.loginServer,
    kind: registry.kind,
    capabilities: registry.capabilities,
    listRepositories: (options) => registry.listRepositories(options),
    listTags: (repository, options) => registry.listTags(repository, options),
    listManifests: (repository, options) => registry.listManifests(repository, options),
    listReferrers: (repository, digest) => registry.listReferrers(repository, digest),
    inspect: (reference) => registry.inspect(reference),
    exists: (reference) => registry.exists(reference),
    getManifest: (repository, reference) => registry.getManifest(repository, reference),
  } satisfies RegistryReader);
}

/**
 * The executor's `RetentionRegistry` over our `Registry` port. Each action checks the registry's
 * current state first (one read), because the plan may be minutes old: a manifest that gained a tag
 * the plan did not know, or a tag that moved, is left alone ("changed"). Throttling and transient
 * failures are retried by the registry layer; a 404 means the work is already done.
 */
export class RegistryRetentionActions implements RetentionRegistry {
  readonly #registry: Pick<Registry, "loginServer" | "inspect" | "deleteManifest" | "untag">;

  constructor(registry: Pick<Registry, "loginServer" | "inspect" | "deleteManifest" | "untag">) {
    this.#registry = registry;
  }

  async deleteManifest(
    registry: string,
    repository: string,
    digest: string,
    expectedTags: readonly string[],
  ): Promise<"deleted" | "not-found" | "locked" | "changed"> {
    this.#checkRegistry(registry);
    let details: Awaited<ReturnType<Registry["inspect"]>>;
    try {
      details = await this.#registry.inspect({ repository, digest });
    } catch (error) {
      if (error instanceof NotFoundError) return "not-found";
      throw error;
    }
    if (!details.tagsKnown) {
      throw new UnsupportedOperationError(
        `${registry} cannot say which tags point at ${repository}@${digest}, so deleting it could remove tags the plan never saw`,
      );
    }
    if (details.locks?.deleteEnabled === false || details.locks?.writeEnabled === false) return "locked";
    const expected = new Set(expectedTags);
    if (details.tags.some((tag) => !expected.has(tag))) return "changed";
    try {
      await this.#registry.deleteManifest(repository, digest);
    } catch (error) {
      if (error instanceof NotFoundError) return "not-found";
      if (error instanceof GuardError) return "locked";
      throw error;
    }
    return "deleted";
  }

  async untag(
    registry: string,
    repository: string,
    tag: string,
    expectedDigest: string,
  ): Promise<"untagged" | "not-found" | "locked" | "changed"> {
    this.#checkRegistry(registry);
    let details: Awaited<ReturnType<Registry["inspect"]>>;
    try {
      details = await this.#registry.inspect({ repository, tag });
    } catch (error) {
      if (error instanceof NotFoundError) return "not-found";
      throw error;
    }
    if (details.digest !== expectedDigest) return "changed";
    try {
      await this.#registry.untag(repository, tag);
    } catch (error) {
      if (error instanceof NotFoundError) return "not-found";
      if (error instanceof GuardError) return "locked";
      throw error;
    }
    return "untagged";
  }

  #checkRegistry(registry: string): void {
    // A plan names its registry; acting on another one than this adapter's would be a wiring bug.
    if (registry.toLowerCase() !== this.#registry.loginServer.toLowerCase()) {
      throw new StewardError(
        `this retention run acts on ${this.#registry.loginServer}, but the plan names ${registry}; nothing was done`,
      );
    }
  }
}
