import { InvalidReferenceError } from "../errors/index.js";
import { isDigest, isRepositoryName, isTag, LoginServerSchema } from "../oci/reference.js";

/**
 * A manifest reference as users write it: `repo:tag`, `repo@sha256:...`, `repo:tag@sha256:...`,
 * optionally prefixed by a registry (`myregistry.azurecr.io/repo:tag`). A reference without tag and
 * digest means nothing here (no implicit `latest`: guessing which image to delete is not our job).
 */
export interface ImageReference {
  /** Login server when the reference named one. */
  readonly registry?: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** The tag or digest to put in `/v2/<name>/manifests/<reference>`; the digest wins when both are given. */
export function manifestReference(reference: ImageReference): string {
  const value = reference.digest ?? reference.tag;
  if (value === undefined)
    throw new InvalidReferenceError(`${formatReference(reference)} has no tag or digest`);
  return value;
}

export function formatReference(reference: ImageReference): string {
  const host = reference.registry === undefined ? "" : `${reference.registry}/`;
  const tag = reference.tag === undefined ? "" : `:${reference.tag}`;
  const digest = reference.digest === undefined ? "" : `@${reference.digest}`;
  return `${host}${reference.repository}${tag}${digest}`;
}

/**
 * Parses `[registry/]repository(:tag|@digest|:tag@digest)`. The first path component is a registry
 * when it contains a '.' or ':' or is `localhost` (the rule docker and skopeo use).
 */
export function parseImageReference(
  text: string,
  options: { requireTagOrDigest?: boolean } = {},
): ImageReference {
  const input = text.trim();
  const where = `image reference '${text}'`;
  if (input === "")
    throw new InvalidReferenceError(`${where} is empty; write repository:tag or repository@digest`);

  let rest = input;
  let registry: string | undefined;
  const slash = rest.indexOf("/");
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      const parsed = LoginServerSchema.safeParse(first);
      if (!parsed.success)
        throw new InvalidReferenceError(`${where}: '${first}' is not a valid registry host`);
      registry = parsed.data;
      rest = rest.slice(slash + 1);
    }
  }

  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) {
      throw new InvalidReferenceError(
        `${where}: '${digest}' is not a digest (sha256: followed by 64 hex digits)`,
      );
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) {
      throw new InvalidReferenceError(
        `${where}: '${tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)`,
      );
    }
  }

  if (!isRepositoryName(rest)) {
    throw new InvalidReferenceError(
      `${where}: '${rest}' is not a valid repository name (lowercase components like 'team/app')`,
    );
  }
  if (tag === undefined && digest === undefined && options.requireTagOrDigest !== false) {
    throw new InvalidReferenceError(
      `${where} names no tag or digest; write ${rest}:TAG or ${rest}@sha256:...`,
    );
  }
  return {
    repository: rest,
    ...(registry === undefined ? {} : { registry }),
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** Parses a bare repository name (for `ls REPOSITORY`). */
export function parseRepositoryName(text: string): string {
  if (!isRepositoryName(text)) {
    throw new InvalidReferenceError(
      `repository '${text}' is not a valid name (lowercase components like 'team/app', no tag)`,
    );
  }
  return text;
}
