import { gzipSync } from "node:zlib";
import { sha256Digest } from "./grammar.js";
import { type Descriptor, MediaType, type ParsedManifest, parseManifest } from "./manifest.js";
import type { SeedSpec } from "./options.js";
import type { RegistryStore } from "./store.js";

/**
 * Seeds: `demo`, a small registry that looks like a team's real one (old and new semver tags, `latest`,
 * a multi-arch index, signatures and SBOMs as referrers, a locked and some untagged manifests, all with
 * real blobs skopeo can copy), and `synthetic`, large registries built fast for benchmarks.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

export interface SeedSummary {
  readonly repositories: number;
  readonly manifests: number;
  readonly tags: number;
}

// ---- blob builders ------------------------------------------------------------------------------

/** A one-file POSIX tar archive (ustar), enough for real tools to unpack. */
export function tarWithFile(path: string, content: string, mtimeS: number): Buffer {
  const data = Buffer.from(content, "utf8");
  const header = Buffer.alloc(512, 0);
  header.write(path, 0, 100, "utf8");
  header.write("0000644\0", 100, 8, "ascii");
  header.write("0000000\0", 108, 8, "ascii");
  header.write("0000000\0", 116, 8, "ascii");
  header.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
  header.write(`${Math.floor(mtimeS).toString(8).padStart(11, "0")}\0`, 136, 12, "ascii");
  header.write("        ", 148, 8, "ascii");
  header.write("0", 156, 1, "ascii");
  header.write("ustar\0", 257, 6, "ascii");
  header.write("00", 263, 2, "ascii");
  let checksum = 0;
  for (const byte of header) checksum += byte;
  header.write(`${checksum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512, 0);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024, 0)]);
}

interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: string;
  readonly bytes: Buffer;
}

function makeLayer(path: string, content: string, atMs: number): Layer {
  const tar = tarWithFile(path, content, atMs / 1000);
  const gz = gzipSync(tar, { level: 6 });
  gz[9] = 3; // gzip OS byte fixed to "unix" so digests do not depend on the platform
  return {
    descriptor: { mediaType: MediaType.ociLayerGzip, digest: sha256Digest(gz), size: gz.length },
    diffId: sha256Digest(tar),
    bytes: gz,
  };
}

function configBytes(options: {
  architecture: string;
  os: string;
  createdMs: number;
  diffIds: readonly string[];
  label: string;
  variant?: string;
}): Buffer {
  const created = new Date(options.createdMs).toISOString();
  return Buffer.from(
    JSON.stringify({
      created,
      architecture: options.architecture,
      ...(options.variant !== undefined ? { variant: options.variant } : {}),
      os: options.os,
      config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: ["/bin/sh"],
        Labels: { "org.opencontainers.image.title": options.label },
      },
      rootfs: { type: "layers", diff_ids: options.diffIds },
      history: options.diffIds.map(() => ({ created, created_by: `acr-steward seed: ${options.label}` })),
    }),
  );
}

// ---- demo ---------------------------------------------------------------------------------------

interface ImageSpec {
  readonly repository: string;
  readonly label: string;
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly ageDays: number;
  readonly tags?: readonly string[];
  readonly docker?: boolean;
}

class DemoBuilder {
  constructor(
    private readonly store: RegistryStore,
    private readonly nowMs: number,
  ) {}

  image(spec: ImageSpec): { digest: string; size: number; mediaType: string } {
    const at = this.nowMs - spec.ageDays * DAY_MS;
    const architecture = spec.architecture ?? "amd64";
    const os = spec.os ?? "linux";
    const base = makeLayer("etc/os-release", `NAME="acr-steward demo base"\nARCH=${architecture}\n`, at);
    const app = makeLayer(`app/${spec.label}.txt`, `${spec.repository} ${spec.label} ${architecture}\n`, at);
    const config = configBytes({
      architecture,
      os,
      createdMs: at,
      diffIds: [base.diffId, app.diffId],
      label: `${spec.repository}:${spec.label}`,
      ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
    });
    const configDigest = sha256Digest(config);
    this.store.putBlob(spec.repository, configDigest, config);
    for (const layer of [base, app])
      this.store.putBlob(spec.repository, layer.descriptor.digest, layer.bytes);
    const layerType = spec.docker
      ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
      : base.descriptor.mediaType;
    const manifest = {
      schemaVersion: 2,
      mediaType: spec.docker ? MediaType.dockerManifest : MediaType.ociManifest,
      config: {
        mediaType: spec.docker ? MediaType.dockerConfig : MediaType.ociConfig,
        digest: configDigest,
        size: config.length,
      },
      layers: [base, app].map((layer) => ({ ...layer.descriptor, mediaType: layerType })),
      ...(spec.docker
        ? {}
        : { annotations: { "org.opencontainers.image.created": new Date(at).toISOString() } }),
    };
    return this.push(spec.repository, manifest, spec.tags ?? [], at);
  }

  index(
    repository: string,
    children: readonly {
      digest: string;
      size: number;
      mediaType: string;
      architecture: string;
      variant?: string;
    }[],
    tags: readonly string[],
    ageDays: number,
  ): { digest: string; size: number; mediaType: string } {
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: children.map((child) => ({
        mediaType: child.mediaType,
        digest: child.digest,
        size: child.size,
        platform: {
          architecture: child.architecture,
          os: "linux",
          ...(child.variant !== undefined ? { variant: child.variant } : {}),
        },
      })),
    };
    return this.push(repository, index, tags, this.nowMs - ageDays * DAY_MS);
  }

  referrer(
    repository: string,
    subject: { digest: string; size: number; mediaType: string },
    artifactType: string,
    payloadType: string,
    payload: string,
    ageDays: number,
  ): { digest: string } {
    const at = this.nowMs - ageDays * DAY_MS;
    const empty = Buffer.from("{}");
    const emptyDigest = sha256Digest(empty);
    const blob = Buffer.from(payload);
    const blobDigest = sha256Digest(blob);
    this.store.putBlob(repository, emptyDigest, empty);
    this.store.putBlob(repository, blobDigest, blob);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType,
      config: { mediaType: MediaType.ociEmpty, digest: emptyDigest, size: empty.length },
      layers: [{ mediaType: payloadType, digest: blobDigest, size: blob.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { "org.opencontainers.image.created": new Date(at).toISOString() },
    };
    return this.push(repository, manifest, [], at);
  }

  private push(
    repository: string,
    manifest: object,
    tags: readonly string[],
    atMs: number,
  ): { digest: string; size: number; mediaType: string } {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const parsed = parseManifest(bytes, undefined);
    const result = this.store.putManifest(repository, bytes, parsed, { tags, atMs });
    return { digest: result.manifest.digest, size: bytes.length, mediaType: parsed.mediaType };
  }
}

/** Names of the demo content, for tests and docs. */
export const DEMO = {
  repositories: ["team/web", "team/api", "tools/base"],
  multiArch: { repository: "team/web", tag: "latest" },
  referrerSubject: { repository: "team/api", tag: "2.1.0" },
  locked: { repository: "team/api", tag: "2.0.0" },
} as const;

function seedDemo(store: RegistryStore, nowMs: number): void {
  const b = new DemoBuilder(store, nowMs);

  // team/web: semver history, untagged old builds, and a multi-arch `latest`.
  b.image({ repository: "team/web", label: "1.0.0", ageDays: 190, tags: ["1.0.0"] });
  b.image({ repository: "team/web", label: "build-1141", ageDays: 150 });
  b.image({ repository: "team/web", label: "1.2.3", ageDays: 120, tags: ["1.2.3"] });
  b.image({ repository: "team/web", label: "build-1187", ageDays: 95 });
  b.image({ repository: "team/web", label: "1.10.0", ageDays: 30, tags: ["1.10.0"] });
  const amd64 = b.image({ repository: "team/web", label: "1.11.0-amd64", architecture: "amd64", ageDays: 2 });
  const arm64 = b.image({
    repository: "team/web",
    label: "1.11.0-arm64",
    architecture: "arm64",
    variant: "v8",
    ageDays: 2,
  });
  b.index(
    "team/web",
    [
      { ...amd64, architecture: "amd64" },
      { ...arm64, architecture: "arm64", variant: "v8" },
    ],
    ["1.11.0", "latest"],
    2,
  );

  // team/api: a locked release, a signed and SBOM-carrying release, and fresh dev builds.
  b.image({ repository: "team/api", label: "2.0.0", ageDays: 210, tags: ["2.0.0"] });
  const release = b.image({ repository: "team/api", label: "2.1.0", ageDays: 45, tags: ["2.1.0", "stable"] });
  b.referrer(
    "team/api",
    release,
    "application/vnd.cncf.notary.signature",
    "application/jose+json",
    JSON.stringify({ payload: "ZGVtbw", protected: "eyJhbGciOiJQUzI1NiJ9", signature: "c2lnbmF0dXJl" }),
    45,
  );
  b.referrer(
    "team/api",
    release,
    "application/spdx+json",
    "application/spdx+json",
    JSON.stringify({
      spdxVersion: "SPDX-2.3",
      dataLicense: "CC0-1.0",
      SPDXID: "SPDXRef-DOCUMENT",
      name: "team/api:2.1.0",
      packages: [{ SPDXID: "SPDXRef-Package-app", name: "app", versionInfo: "2.1.0" }],
    }),
    44,
  );
  b.image({ repository: "team/api", label: "build-2290", ageDays: 20 });
  b.image({ repository: "team/api", label: "2.2.0", ageDays: 5, tags: ["2.2.0", "latest"] });
  b.image({ repository: "team/api", label: "dev-7f3c2a1", ageDays: 1, tags: ["dev-7f3c2a1"] });
  const locked = store.resolve("team/api", "2.0.0");
  if (locked !== undefined)
    store.updateManifestAttributes("team/api", locked.digest, { deleteEnabled: false });

  // tools/base: Docker schema 2 images.
  b.image({ repository: "tools/base", label: "3.18", ageDays: 300, tags: ["3.18"], docker: true });
  b.image({ repository: "tools/base", label: "3.19", ageDays: 100, tags: ["3.19", "latest"], docker: true });
  b.image({ repository: "tools/base", label: "3.20-rc1", ageDays: 10, docker: true });
}

// ---- synthetic ----------------------------------------------------------------------------------

const SHARED_LAYER_COUNT = 12;

/**
 * `repos` repositories of `manifests` manifests each. Layer blobs are shared by every repository (a
 * small pool); configs are tiny and unique so every manifest has its own digest. Times spread over a
 * year, oldest first; about a third of the manifests are untagged, every 50th is a two-platform index.
 */
function seedSynthetic(store: RegistryStore, nowMs: number, repos: number, manifests: number): void {
  const pool = Array.from({ length: SHARED_LAYER_COUNT }, (_, i) =>
    makeLayer(`layer/${i}.txt`, `shared layer ${i}\n`, nowMs - 400 * DAY_MS),
  );
  const diffIds = new Map(pool.map((layer) => [layer.descriptor.digest, layer.diffId]));
  const spanMs = 365 * DAY_MS;
  const width = String(repos - 1).length;
  for (let r = 0; r < repos; r++) {
    const repository = `synthetic/team-${r % 10}/app-${String(r).padStart(width, "0")}`;
    for (const layer of pool) store.putBlob(repository, layer.descriptor.digest, layer.bytes);
    let previous: { digest: string; size: number }[] = [];
    for (let m = 0; m < manifests; m++) {
      const atMs = nowMs - spanMs + Math.floor(((m + 1) * spanMs) / (manifests + 1)) + r;
      const isLast = m === manifests - 1;
      const tags: string[] = [];
      if (m % 3 !== 2 || isLast) tags.push(`1.${Math.floor(m / 10)}.${m % 10}`);
      if (m % 7 === 0) tags.push(`build-${m}`);
      if (isLast) tags.push("latest");
      if (m % 50 === 49 && previous.length === 2) {
        const index = {
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: previous.map((child, i) => ({
            mediaType: MediaType.ociManifest,
            digest: child.digest,
            size: child.size,
            platform: { architecture: i === 0 ? "amd64" : "arm64", os: "linux" },
          })),
        };
        const bytes = Buffer.from(JSON.stringify(index));
        store.putManifest(repository, bytes, parseManifest(bytes, MediaType.ociIndex), {
          tags,
          atMs,
          trusted: true,
          bulk: true,
        });
        previous = [];
        continue;
      }
      const first = pool[(r + m) % SHARED_LAYER_COUNT] as Layer;
      const second = pool[(r * 7 + m * 3 + 1) % SHARED_LAYER_COUNT] as Layer;
      const layers = first === second ? [first.descriptor] : [first.descriptor, second.descriptor];
      const architecture = m % 4 === 3 ? "arm64" : "amd64";
      // A small config, unique per manifest (its created time and label), so every digest differs.
      const config = Buffer.from(
        `{"architecture":"${architecture}","os":"linux","created":"${new Date(atMs).toISOString()}",` +
          `"config":{"Labels":{"seed":"${repository}#${m}"}},"rootfs":{"type":"layers","diff_ids":[${layers
            .map((l) => `"${diffIds.get(l.digest)}"`)
            .join(",")}]}}`,
      );
      const configDigest = sha256Digest(config);
      store.putBlob(repository, configDigest, config);
      const configDescriptor = { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length };
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: configDescriptor,
          layers,
        }),
      );
      // Built here, so the parsed form is known without re-validating 100,000 manifests.
      const parsed: ParsedManifest = {
        mediaType: MediaType.ociManifest,
        isIndex: false,
        config: configDescriptor,
        blobs: layers,
        manifests: [],
      };
      const result = store.putManifest(repository, bytes, parsed, {
        tags,
        atMs,
        trusted: true,
        bulk: true,
        platform: { architecture, os: "linux" },
      });
      previous = [...previous, { digest: result.manifest.digest, size: bytes.length }].slice(-2);
    }
  }
}

export function applySeed(store: RegistryStore, spec: SeedSpec, nowMs: number = Date.now()): SeedSummary {
  if (spec.kind === "demo") seedDemo(store, nowMs);
  else seedSynthetic(store, nowMs, spec.repos, spec.manifests);
  const counts = store.counts();
  return { repositories: counts.repositories, manifests: counts.manifests, tags: counts.tags };
}
