import { z } from "zod";
import { errors } from "./errors.js";
import { looksLikeDigest } from "./grammar.js";

/** Manifest media types the emulator stores, and the checks a registry makes before accepting one. */
export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociArtifact: "application/vnd.oci.artifact.manifest.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.ociArtifact,
  MediaType.dockerManifest,
  MediaType.dockerList,
];

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerList];

/** Registries accept manifests of at least 4 MiB; the SDK refuses larger ones too. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const DescriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: z.string().refine(looksLikeDigest, "not a digest"),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z
    .looseObject({
      architecture: z.string(),
      os: z.string(),
      variant: z.string().optional(),
    })
    .optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

const ImageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const IndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const ArtifactManifestSchema = z.looseObject({
  mediaType: z.literal(MediaType.ociArtifact),
  artifactType: z.string().min(1),
  blobs: z.array(DescriptorSchema).optional(),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export interface ParsedManifest {
  readonly mediaType: string;
  readonly isIndex: boolean;
  readonly config?: Descriptor;
  /** Layers of an image, blobs of an artifact manifest. */
  readonly blobs: readonly Descriptor[];
  /** Children of an index. */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Media types whose blobs live elsewhere (foreign layers): registries don't require them to exist. */
export function isNonDistributable(descriptor: Descriptor): boolean {
  return (
    descriptor.mediaType.includes(".nondistributable.") ||
    descriptor.mediaType === "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
  );
}

function mediaTypeFromStructure(body: Record<string, unknown>): string | undefined {
  if (Array.isArray(body.manifests)) return MediaType.ociIndex;
  if (body.config !== undefined && Array.isArray(body.layers)) return MediaType.ociManifest;
  return undefined;
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid manifest";
  const path = issue.path.length > 0 ? issue.path.join(".") : "(root)";
  return `${path}: ${issue.message}`;
}

/**
 * Parses a pushed manifest. `contentType` is the request's Content-Type (parameters stripped); when it and
 * the body's `mediaType` are both present they must agree, like the distribution spec requires.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw errors.manifestInvalid("the manifest is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw errors.manifestInvalid("the manifest is not a JSON object");
  }
  const record = body as Record<string, unknown>;
  const declared = typeof record.mediaType === "string" ? record.mediaType : undefined;
  const header =
    contentType !== undefined && contentType !== "" && MANIFEST_MEDIA_TYPES.includes(contentType)
      ? contentType
      : undefined;
  if (contentType !== undefined && contentType !== "" && header === undefined && declared === undefined) {
    if (!["application/json", "application/octet-stream"].includes(contentType)) {
      throw errors.manifestInvalid(`unsupported manifest media type '${contentType}'`);
    }
  }
  if (declared !== undefined && header !== undefined && declared !== header) {
    throw errors.manifestInvalid(
      `Content-Type '${header}' does not match the manifest's mediaType '${declared}'`,
    );
  }
  const mediaType = declared ?? header ?? mediaTypeFromStructure(record);
  if (mediaType === undefined || !MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw errors.manifestInvalid(`unsupported manifest media type '${mediaType ?? "(none)"}'`);
  }

  if (mediaType === MediaType.ociArtifact) {
    const parsed = ArtifactManifestSchema.safeParse(record);
    if (!parsed.success) throw errors.manifestInvalid(firstIssue(parsed.error));
    return {
      mediaType,
      isIndex: false,
      blobs: parsed.data.blobs ?? [],
      manifests: [],
      subject: parsed.data.subject,
      artifactType: parsed.data.artifactType,
      annotations: parsed.data.annotations,
    };
  }
  if (INDEX_MEDIA_TYPES.includes(mediaType)) {
    const parsed = IndexSchema.safeParse(record);
    if (!parsed.success) throw errors.manifestInvalid(firstIssue(parsed.error));
    return {
      mediaType,
      isIndex: true,
      blobs: [],
      manifests: parsed.data.manifests,
      subject: parsed.data.subject,
      artifactType: parsed.data.artifactType,
      annotations: parsed.data.annotations,
    };
  }
  const parsed = ImageManifestSchema.safeParse(record);
  if (!parsed.success) throw errors.manifestInvalid(firstIssue(parsed.error));
  return {
    mediaType,
    isIndex: false,
    config: parsed.data.config,
    blobs: parsed.data.layers,
    manifests: [],
    // Docker schema 2 has no subject field: such a manifest is never a referrer.
    subject: mediaType === MediaType.dockerManifest ? undefined : parsed.data.subject,
    artifactType: parsed.data.artifactType,
    annotations: parsed.data.annotations,
  };
}

/** The artifactType the referrers API reports: the manifest's own, else its config's media type. */
export function effectiveArtifactType(manifest: ParsedManifest): string | undefined {
  if (manifest.artifactType !== undefined) return manifest.artifactType;
  if (manifest.config !== undefined && !manifest.isIndex) return manifest.config.mediaType;
  return undefined;
}
