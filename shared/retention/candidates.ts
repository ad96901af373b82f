import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema, TagSchema } from "../oci/reference.js";

/**
 * What the planner decides about: one repository's listing at a time, normalized from whatever
 * the registry or the inventory returned. No SDK types cross this line; adapters build these.
 */

const InstantSchema = z.iso.datetime({ offset: true });

export const RetentionTagSchema = z.strictObject({
  name: TagSchema,
  /** When the tag was last pushed or moved to this manifest (ACR tag lastUpdateTime). */
  updatedAt: InstantSchema.optional(),
  /** Tag-level lock attributes; a locked tag is never removed. Missing means unlocked. */
  deleteEnabled: z.boolean().optional(),
  writeEnabled: z.boolean().optional(),
});

export const RetentionCandidateSchema = z.strictObject({
  digest: DigestSchema,
  mediaType: z.string().max(255).optional(),
  /** OCI artifactType (signatures, SBOMs, attestations). Informational. */
  artifactType: z.string().max(255).optional(),
  sizeInBytes: z.number().int().nonnegative(),
  /** When the manifest was pushed (ACR createdTime). Missing or unparsable: the manifest is kept (fail closed). */
  pushedAt: InstantSchema.optional(),
  /** Last change the registry reports for the manifest (ACR lastUpdateTime; moves on tag and untag). */
  updatedAt: InstantSchema.optional(),
  /** Creation time written in the image config. Informational only: builds can fake it. */
  createdAt: InstantSchema.optional(),
  tags: z.array(RetentionTagSchema),
  /** Manifest lock attributes: false means locked. */
  deleteEnabled: z.boolean(),
  writeEnabled: z.boolean(),
  /** Digests this manifest references as an image index / manifest list (platform children). */
  children: z.array(DigestSchema),
  /** The manifest this one refers to (OCI `subject`: signatures, SBOMs, attestations). */
  subject: DigestSchema.optional(),
  /** False when the manifest itself could not be fetched or parsed: its children and subject are unknown. */
  metadataReadable: z.boolean(),
});

export const RepositoryListingSchema = z.strictObject({
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  /** True only when every page of the listing was read (the Link chain was followed to its end). */
  listingComplete: z.boolean(),
  manifests: z.array(RetentionCandidateSchema),
});

export type RetentionTag = z.infer<typeof RetentionTagSchema>;
export type RetentionCandidate = z.infer<typeof RetentionCandidateSchema>;
export type RepositoryListing = z.infer<typeof RepositoryListingSchema>;

/** Media types that are single-platform manifests and therefore never have children. */
export const SINGLE_MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
]);

export { COSIGN_REFERRER_TAG } from "../oci/reference.js";
