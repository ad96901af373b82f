import { z } from "zod";

/**
 * The OCI distribution-spec grammar for names, tags and digests, shared by the emulator-facing
 * client, the event parser and the CLI so that every entry point accepts and rejects the same things.
 */

// A path component: lowercase alphanumerics separated by '.', '_', '__' or runs of '-'.
const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
export const REPOSITORY_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
export const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Registered algorithms we can verify; other syntactically valid digests are rejected with a clear reason. */
export const DIGEST_PATTERN = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/**
 * Tags that cosign's tag scheme uses to attach signatures, attestations and SBOMs:
 * `sha256-<hex>.sig|.att|.sbom` refers to the manifest `sha256:<hex>`.
 */
export const COSIGN_REFERRER_TAG = /^sha256-([a-f0-9]{64})\.(?:sig|att|sbom)$/;
/** host or host:port (DNS names or IPv4 literals); what ACR calls the login server. */
export const LOGIN_SERVER_PATTERN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))*(?::[0-9]{1,5})?$/;

/** The distribution spec allows repository names up to 255 characters (with the registry host). */
export const MAX_REPOSITORY_LENGTH = 255;

export const RepositoryNameSchema = z
  .string()
  .max(MAX_REPOSITORY_LENGTH, "a repository name has at most 255 characters")
  .regex(REPOSITORY_PATTERN, "a repository name is lowercase path components like 'team/app' (OCI grammar)");

export const TagSchema = z
  .string()
  .regex(
    TAG_PATTERN,
    "a tag is 1-128 characters of letters, digits, '_', '.', '-' and does not start with '.' or '-'",
  );

export const DigestSchema = z
  .string()
  .regex(DIGEST_PATTERN, "a digest is 'sha256:' followed by 64 lowercase hex digits");

export const LoginServerSchema = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(
    z.string().max(253).regex(LOGIN_SERVER_PATTERN, "a login server is a host name with an optional port"),
  );

export type RepositoryName = z.infer<typeof RepositoryNameSchema>;
export type Tag = z.infer<typeof TagSchema>;
export type Digest = z.infer<typeof DigestSchema>;

export function isRepositoryName(value: string): boolean {
  return value.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_PATTERN.test(value);
}
export function isTag(value: string): boolean {
  return TAG_PATTERN.test(value);
}
export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}
