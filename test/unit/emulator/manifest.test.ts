import { describe, expect, it } from "vitest";
import { effectiveArtifactType, MediaType, parseManifest } from "../../../emulator/manifest.js";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const descriptor = (c: string, mediaType = "application/octet-stream") => ({
  mediaType,
  digest: d(c),
  size: 3,
});
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("parseManifest", () => {
  it("accepts the five manifest kinds and reads their parts", () => {
    const image = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: MediaType.dockerManifest,
        config: descriptor("a"),
        layers: [descriptor("b")],
      }),
      MediaType.dockerManifest,
    );
    expect(image).toMatchObject({ isIndex: false, config: { digest: d("a") } });
    const list = parseManifest(
      json({ schemaVersion: 2, mediaType: MediaType.dockerList, manifests: [descriptor("c")] }),
      undefined,
    );
    expect(list.isIndex).toBe(true);
    const oci = parseManifest(
      json({
        schemaVersion: 2,
        config: descriptor("a", MediaType.ociEmpty),
        layers: [],
        artifactType: "x/y",
        subject: descriptor("s"),
      }),
      MediaType.ociManifest,
    );
    expect(oci.subject?.digest).toBe(d("s"));
    expect(effectiveArtifactType(oci)).toBe("x/y");
    const index = parseManifest(json({ schemaVersion: 2, manifests: [] }), MediaType.ociIndex);
    expect(index.mediaType).toBe(MediaType.ociIndex);
    const artifact = parseManifest(
      json({ mediaType: MediaType.ociArtifact, artifactType: "a/b", blobs: [descriptor("e")] }),
      MediaType.ociArtifact,
    );
    expect(artifact.blobs).toHaveLength(1);
  });

  it.each([
    ["not JSON", Buffer.from("{"), undefined],
    ["an array", json([]), undefined],
    [
      "schemaVersion 1",
      json({ schemaVersion: 1, config: descriptor("a"), layers: [] }),
      MediaType.ociManifest,
    ],
    [
      "a bad digest",
      json({ schemaVersion: 2, config: { ...descriptor("a"), digest: "nope" }, layers: [] }),
      undefined,
    ],
    [
      "a negative size",
      json({ schemaVersion: 2, config: { ...descriptor("a"), size: -1 }, layers: [] }),
      undefined,
    ],
    [
      "a mismatched Content-Type",
      json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
      MediaType.ociManifest,
    ],
    ["an unknown media type", json({ schemaVersion: 2, mediaType: "text/plain" }), undefined],
    ["no recognisable structure", json({ schemaVersion: 2 }), undefined],
  ])("rejects %s with MANIFEST_INVALID", (_, body, contentType) => {
    expect(() => parseManifest(body, contentType)).toThrow(
      expect.objectContaining({ code: "MANIFEST_INVALID", status: 400 }),
    );
  });
});
