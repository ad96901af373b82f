import type { Descriptor } from "../registry/registry.js";
import type { PlatformChild } from "./scanImage.js";

const DIGEST_CHILD = /^sha(?:256|512):[a-f0-9]+$/;

/**
 * The children of an index that are images to scan, named `os/arch[/variant]`. Attestation manifests
 * that buildx puts in indexes (platform `unknown/unknown`, or annotated as attestation manifests) are
 * not images and are left out; so are children without a platform.
 */
export function platformChildren(children: readonly Descriptor[]): PlatformChild[] {
  const out: PlatformChild[] = [];
  const seen = new Set<string>();
  for (const child of children) {
    const platform = child.platform;
    if (platform?.os === undefined || platform.architecture === undefined) continue;
    if (platform.os === "unknown" || platform.architecture === "unknown") continue;
    if (child.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") continue;
    if (!DIGEST_CHILD.test(child.digest)) continue;
    const name = [platform.os, platform.architecture, platform.variant]
      .filter((part): part is string => part !== undefined && part !== "")
      .join("/");
    // The same platform twice (rare, but allowed by the spec): the first wins, as runtimes pick it.
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ platform: name, digest: child.digest });
  }
  return out;
}
