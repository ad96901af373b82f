import { NotFoundError } from "../shared/errors/index.js";
import type { Registry } from "../shared/registry/index.js";
import { parseManifest } from "../shared/registry/ociManifest.js";
import { platformChildren } from "../shared/scanning/platforms.js";
import type { PlatformChild } from "../shared/scanning/scanImage.js";
import type { ScanTarget } from "../shared/scanning/scanRunner.js";

/** What to scan for a digest: the image itself, or each platform child of an index. */
export type ScanPlan =
  | { readonly kind: "image" }
  | { readonly kind: "index"; readonly children: readonly PlatformChild[] }
  | { readonly kind: "gone"; readonly reason: string };

export interface ManifestPlanner {
  plan(target: ScanTarget): Promise<ScanPlan>;
}

/** Scans every digest as a single image (Trivy picks linux/amd64 from an index): for registries we cannot read. */
export const SCAN_AS_IMAGE: ManifestPlanner = { plan: async () => ({ kind: "image" }) };

/** Reads the manifest through the Registry port (one registry per allow-listed login server). */
export class RegistryManifestPlanner implements ManifestPlanner {
  readonly #open: (loginServer: string) => Promise<Registry>;
  readonly #registries = new Map<string, Promise<Registry>>();

  constructor(open: (loginServer: string) => Promise<Registry>) {
    this.#open = open;
  }

  async plan(target: ScanTarget): Promise<ScanPlan> {
    let registry = this.#registries.get(target.registry);
    if (registry === undefined) {
      registry = this.#open(target.registry);
      this.#registries.set(target.registry, registry);
      registry.catch(() => this.#registries.delete(target.registry));
    }
    let content: Awaited<ReturnType<Registry["getManifest"]>>;
    try {
      content = await (await registry).getManifest(target.repository, target.digest);
    } catch (error) {
      if (error instanceof NotFoundError) {
        return { kind: "gone", reason: `the registry has no manifest ${target.repository}@${target.digest}` };
      }
      throw error;
    }
    const manifest = parseManifest(content.bytes, content.mediaType, `${target.repository}@${target.digest}`);
    if (!manifest.isIndex) return { kind: "image" };
    return { kind: "index", children: platformChildren(manifest.children) };
  }
}
