import type { ManifestDescription } from "../inventory/model.js";
import type { ManifestEnricher } from "../inventory/ports.js";
import type { Registry } from "../registry/index.js";
import { describeFromDetails } from "../sweep/describe.js";

/**
 * The inventory's enricher on push: one `inspect(repository@digest)` against the registry that
 * raised the event (platforms, or the children's platforms of an index; created time; size;
 * children; subject; artifact and config media types). Any failure propagates: the inventory then
 * records the event from what it says and marks the row `needsEnrichment` for a sweep.
 */
export class RegistryManifestEnricher implements ManifestEnricher {
  readonly #registries: (loginServer: string) => Promise<Registry>;

  /** @param registries the open registry of an allow-listed login server (rejects for any other). */
  constructor(registries: (loginServer: string) => Promise<Registry>) {
    this.#registries = registries;
  }

  async describe(registry: string, repository: string, digest: string): Promise<ManifestDescription> {
    const client = await this.#registries(registry);
    return describeFromDetails(await client.inspect({ repository, digest }));
  }
}
