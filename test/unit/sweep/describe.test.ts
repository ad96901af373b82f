import { describe, expect, it } from "vitest";
import type { ManifestDetails, ManifestSummary, Registry } from "../../../shared/registry/registry.js";
import { describeFromListing, ListingEnricher } from "../../../shared/sweep/describe.js";

const base: ManifestSummary = {
  registry: "example.azurecr.io",
  repository: "team/app",
  digest: `sha256:${"1".repeat(64)}`,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  configMediaType: "application/vnd.oci.image.config.v1+json",
  sizeBytes: 2048,
  createdAt: new Date("2026-01-01T00:00:00Z"),
  architecture: "arm64",
  os: "linux",
  tags: ["1.0"],
  children: [],
};

describe("describing digests from the listing", () => {
  it("describes images and indexes without a registry call", () => {
    expect(describeFromListing(base)).toEqual({
      platforms: [{ architecture: "arm64", os: "linux" }],
      createdAt: "2026-01-01T00:00:00.000Z",
      sizeInBytes: 2048,
      configMediaType: "application/vnd.oci.image.config.v1+json",
      children: [],
    });
    const index = describeFromListing({
      ...base,
      mediaType: "application/vnd.oci.image.index.v1+json",
      configMediaType: undefined,
      architecture: undefined,
      os: undefined,
      children: [{ digest: `sha256:${"2".repeat(64)}`, platform: { architecture: "amd64", os: "linux" } }],
    });
    expect(index?.children).toEqual([`sha256:${"2".repeat(64)}`]);
    expect(index?.platforms).toEqual([{ architecture: "amd64", os: "linux" }]);
  });

  it("cannot describe artifacts from the listing (their subject is unknown there)", () => {
    expect(
      describeFromListing({
        ...base,
        configMediaType: "application/vnd.cncf.notary.signature",
        artifactType: "x",
      }),
    ).toBeUndefined();
  });

  it("reads the registry only for what the listing cannot describe", async () => {
    const inspected: string[] = [];
    const signature = {
      ...base,
      digest: `sha256:${"3".repeat(64)}`,
      artifactType: "application/vnd.cncf.notary.signature",
    };
    const registry = {
      inspect: async (reference: { digest?: string }) => {
        inspected.push(reference.digest ?? "");
        return {
          ...signature,
          mediaType: signature.mediaType,
          manifestSizeBytes: 300,
          tagsKnown: true,
          platforms: [],
          layers: [],
          subject: { digest: base.digest },
        } as ManifestDetails;
      },
    } as unknown as Registry;
    const enricher = new ListingEnricher(() => registry);
    const { described } = await enricher.withListing([base, signature], async () => {
      await enricher.describe(base.registry, base.repository, base.digest);
      await enricher.describe(base.registry, base.repository, signature.digest);
    });
    expect(inspected).toEqual([signature.digest]);
    expect(described.get(signature.digest)?.subject).toBe(base.digest);
    expect(enricher.registryReads).toBe(1);
  });
});
