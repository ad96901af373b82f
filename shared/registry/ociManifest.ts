import { createHash } from "node:crypto";
import { z } from "zod";
import { ValidationError } from "../errors/index.js";
import type { Descriptor, Platform } from "./registry.js";

/**
 * The manifest and image-config shapes acr-steward reads (OCI image spec v1.1 and Docker v2 schema 2).
 * Unknown fields are kept out; missing optional fields stay undefined.
 */
export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
} as const;

/** What we ask registries for: every manifest kind we can read. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
].join(", ");

const PlatformSchema = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
});

const DescriptorSchema = z.object({
  mediaType: z.string().optional(),
  digest: z.string(),
  size: z.number().int().nonnegative().optional(),
  artifactType: z.string().optional(),
  platform: PlatformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const ManifestDocumentSchema = z.object({
  schemaVersion: z.number().optional(),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema.optional(),
  layers: z.array(DescriptorSchema).optional(),
  manifests: z.array(DescriptorSchema).optional(),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const ImageConfigSchema = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  created: z.string().optional(),
});

export interface ParsedManifest {
  readonly mediaType: string;
  readonly isIndex: boolean;
  readonly artifactType?: string;
  readonly config?: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly children: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function parseManifest(bytes: Buffer, contentType: string | undefined, where: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    throw new ValidationError(`${where}: the manifest is not JSON`, { cause });
  }
  const parsed = ManifestDocumentSchema.safeParse(json);
  if (!parsed.success) {
    throw new ValidationError(
      `${where}: the manifest does not have the OCI/Docker shape: ${parsed.error.message}`,
    );
  }
  const document = parsed.data;
  const mediaType = document.mediaType ?? stripParameters(contentType) ?? guessFromShape(document);
  const isIndex =
    mediaType === MEDIA_TYPES.ociIndex ||
    mediaType === MEDIA_TYPES.dockerManifestList ||
    (document.manifests !== undefined && document.config === undefined);
  const configType = document.config?.mediaType;
  const artifactType =
    document.artifactType ??
    (configType !== undefined &&
    configType !== MEDIA_TYPES.ociConfig &&
    configType !== MEDIA_TYPES.dockerConfig &&
    configType !== MEDIA_TYPES.ociEmpty
      ? configType
      : undefined);
  return {
    mediaType,
    isIndex,
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(document.config === undefined ? {} : { config: toDescriptor(document.config) }),
    layers: (document.layers ?? []).map(toDescriptor),
    children: (document.manifests ?? []).map(toDescriptor),
    ...(document.subject === undefined ? {} : { subject: toDescriptor(document.subject) }),
    ...(document.annotations === undefined ? {} : { annotations: document.annotations }),
  };
}

export interface ImageConfigFacts extends Platform {
  readonly created?: Date;
}

/** Reads architecture, OS and creation time from an image config blob; unreadable parts stay undefined. */
export function parseImageConfig(bytes: Buffer): ImageConfigFacts {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    return {};
  }
  const parsed = ImageConfigSchema.safeParse(json);
  if (!parsed.success) return {};
  const created = parsed.data.created === undefined ? undefined : new Date(parsed.data.created);
  return {
    ...(parsed.data.architecture === undefined ? {} : { architecture: parsed.data.architecture }),
    ...(parsed.data.os === undefined ? {} : { os: parsed.data.os }),
    ...(parsed.data.variant === undefined ? {} : { variant: parsed.data.variant }),
    ...(created === undefined || Number.isNaN(created.getTime()) ? {} : { created }),
  };
}

/** True when the config blob is a container image config (so it carries platform and `created`). */
export function isImageConfig(mediaType: string | undefined): boolean {
  return mediaType === MEDIA_TYPES.ociConfig || mediaType === MEDIA_TYPES.dockerConfig;
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function toDescriptor(value: z.infer<typeof DescriptorSchema>): Descriptor {
  return {
    digest: value.digest,
    ...(value.mediaType === undefined ? {} : { mediaType: value.mediaType }),
    ...(value.size === undefined ? {} : { size: value.size }),
    ...(value.artifactType === undefined ? {} : { artifactType: value.artifactType }),
    ...(value.platform === undefined ? {} : { platform: value.platform }),
    ...(value.annotations === undefined ? {} : { annotations: value.annotations }),
  };
}

function stripParameters(contentType: string | undefined): string | undefined {
  const value = contentType?.split(";")[0]?.trim();
  return value === "" ? undefined : value;
}

function guessFromShape(document: z.infer<typeof ManifestDocumentSchema>): string {
  // OCI allows mediaType to be absent from the body; the shape then decides (image-spec, "mediaType").
  return document.manifests !== undefined ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
}
