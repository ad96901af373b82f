import { createHash } from "node:crypto";

/**
 * OCI distribution-spec grammar as the emulator enforces it. (The emulator imports nothing from the rest
 * of acr-steward, so it carries its own copy of these few patterns.)
 */

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Any syntactically valid digest (algorithm:encoded). */
const DIGEST_SHAPE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const VERIFIABLE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export const MAX_REPOSITORY_LENGTH = 255;

export function isRepositoryName(value: string): boolean {
  return value.length > 0 && value.length <= MAX_REPOSITORY_LENGTH && REPOSITORY.test(value);
}
export function isTag(value: string): boolean {
  return TAG.test(value);
}
/** Looks like a digest (has an algorithm prefix); may still be unverifiable. */
export function looksLikeDigest(value: string): boolean {
  return DIGEST_SHAPE.test(value);
}
/** A digest we can verify: sha256 or sha512 with lowercase hex of the right length. */
export function isVerifiableDigest(value: string): boolean {
  return VERIFIABLE.test(value);
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Digest of `bytes` with the algorithm `like` names (sha256 or sha512). */
export function digestWithAlgorithmOf(like: string, bytes: Uint8Array): string {
  const algorithm = like.startsWith("sha512:") ? "sha512" : "sha256";
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}
