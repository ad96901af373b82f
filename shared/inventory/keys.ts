import { InvalidReferenceError } from "../errors/index.js";
import { isDigest, isRepositoryName, isTag, LOGIN_SERVER_PATTERN } from "../oci/reference.js";

/**
 * Table keys may not contain '/', '\', '#', '?' or control characters, and repository names contain
 * '/'. The repository key joins registry and repository with '/' and then turns every '/' into '~',
 * a character neither login servers nor repository names may hold, so decoding is exact and keys
 * stay readable in Storage Explorer: `myregistry.azurecr.io~team~app`.
 */

const SEPARATOR = "~";
/** Event ids become part of audit row keys; ids outside this alphabet are base64url-encoded. */
const PLAIN_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const ENCODED_ID_PREFIX = "b64.";

export function encodeRepositoryKey(registry: string, repository: string): string {
  if (!LOGIN_SERVER_PATTERN.test(registry)) {
    throw new InvalidReferenceError(`'${registry}' is not a registry login server`);
  }
  if (!isRepositoryName(repository)) {
    throw new InvalidReferenceError(`'${repository}' is not a repository name (OCI grammar)`);
  }
  return `${registry.toLowerCase()}/${repository}`.replaceAll("/", SEPARATOR);
}

export function decodeRepositoryKey(key: string): { registry: string; repository: string } {
  const [registry, ...path] = key.split(SEPARATOR);
  if (!registry || path.length === 0) throw new InvalidReferenceError(`'${key}' is not a repository key`);
  return { registry, repository: path.join("/") };
}

/** Tags use only letters, digits, '_', '.' and '-': valid key characters as they are. */
export function encodeTagKey(tag: string): string {
  if (!isTag(tag)) throw new InvalidReferenceError(`'${tag}' is not a tag (OCI grammar)`);
  return tag;
}

/** Digests ('sha256:<hex>') are valid keys as they are. */
export function encodeDigestKey(digest: string): string {
  if (!isDigest(digest)) throw new InvalidReferenceError(`'${digest}' is not a digest`);
  return digest;
}

export function encodeEventIdKey(id: string): string {
  if (PLAIN_ID.test(id) && !id.startsWith(ENCODED_ID_PREFIX)) return id;
  return ENCODED_ID_PREFIX + Buffer.from(id, "utf8").toString("base64url");
}

export function decodeEventIdKey(key: string): string {
  if (!key.startsWith(ENCODED_ID_PREFIX)) return key;
  return Buffer.from(key.slice(ENCODED_ID_PREFIX.length), "base64url").toString("utf8");
}

/** The audit partition: the UTC day of an instant, `YYYY-MM-DD`. */
export function auditDayKey(isoTime: string): string {
  return new Date(Date.parse(isoTime)).toISOString().slice(0, 10);
}
