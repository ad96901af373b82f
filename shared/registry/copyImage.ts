import { StewardError, UnsupportedOperationError } from "../errors/index.js";
import { COSIGN_REFERRER_TAG } from "../oci/reference.js";
import { type AuditSink, audited } from "./audit.js";
import { formatReference, type ImageReference, manifestReference } from "./imageReference.js";
import { mapConcurrent } from "./listing.js";
import { parseManifest } from "./ociManifest.js";
import type { Descriptor, ManifestContent, Registry } from "./registry.js";

/**
 * Copies an image (or an index with every child) from one repository to another, in the same
 * registry or across registries, preserving the digest. Blobs the target has are skipped; inside one
 * registry they are mounted (no bytes move); otherwise they are streamed from source to target without
 * being held in memory. Children go first and the root manifest last, so the target never holds a
 * tag pointing to something incomplete. With `withReferrers`, what refers to the copied manifests
 * is copied after them: what the OCI referrers API lists (by digest, and what refers to those in
 * turn), then cosign's tag-scheme signatures, attestations and SBOMs (`sha256-<hex>.sig|.att|.sbom`
 * tags naming a copied digest), under the same tags.
 */
export interface CopyImageRequest {
  readonly source: Registry;
  readonly sourceReference: ImageReference;
  readonly target: Registry;
  /** Without tag and digest, the source's tag (or digest) is used. */
  readonly targetReference: ImageReference;
  readonly audit: AuditSink;
  readonly actor: string;
  readonly blobConcurrency?: number;
  /** Also copy the manifests that refer to the copied ones (recursively), untagged as in the source. */
  readonly withReferrers?: boolean;
  readonly onProgress?: (event: CopyProgress) => void;
}

export interface CopyProgress {
  readonly kind: "blob" | "manifest";
  readonly digest: string;
  readonly how: "skipped" | "mounted" | "uploaded" | "written";
  readonly bytes: number;
}

export interface CopyResult {
  readonly source: string;
  readonly target: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly manifests: number;
  /** Referrers copied (signatures, SBOMs...), counted in `manifests` too; 0 unless asked for. */
  readonly referrers: number;
  /** What the caller should know, e.g. that the source has no referrers API (cosign tags were still copied). */
  readonly notes: readonly string[];
  readonly blobsUploaded: number;
  readonly blobsMounted: number;
  readonly blobsSkipped: number;
  readonly bytesUploaded: number;
}

export async function copyImage(request: CopyImageRequest): Promise<CopyResult> {
  const { source, target, sourceReference } = request;
  const targetReference: ImageReference = {
    ...request.targetReference,
    ...(request.targetReference.tag === undefined && request.targetReference.digest === undefined
      ? sourceReference.tag === undefined
        ? { digest: manifestReference(sourceReference) }
        : { tag: sourceReference.tag }
      : {}),
  };
  const sameRegistry = source.loginServer === target.loginServer;
  const counts = {
    manifests: 0,
    referrers: 0,
    blobsUploaded: 0,
    blobsMounted: 0,
    blobsSkipped: 0,
    bytesUploaded: 0,
  };
  /** Every manifest digest written to the target, in order. */
  const written: string[] = [];
  const notes: string[] = [];
  const srcRepo = sourceReference.repository;
  const dstRepo = targetReference.repository;
  const concurrency = request.blobConcurrency ?? 4;

  const copyBlob = async (blob: Descriptor) => {
    if (await target.hasBlob(dstRepo, blob.digest)) {
      counts.blobsSkipped += 1;
      request.onProgress?.({ kind: "blob", digest: blob.digest, how: "skipped", bytes: 0 });
      return;
    }
    if (sameRegistry && (await target.mountBlob(dstRepo, blob.digest, srcRepo))) {
      counts.blobsMounted += 1;
      request.onProgress?.({ kind: "blob", digest: blob.digest, how: "mounted", bytes: 0 });
      return;
    }
    const size = blob.size;
    if (size === undefined) {
      throw new StewardError(`blob ${blob.digest} of ${srcRepo} has no known size; cannot upload it`);
    }
    await target.uploadBlob(
      dstRepo,
      blob.digest,
      size,
      async () => (await source.openBlob(srcRepo, blob.digest)).stream,
    );
    counts.blobsUploaded += 1;
    counts.bytesUploaded += size;
    request.onProgress?.({ kind: "blob", digest: blob.digest, how: "uploaded", bytes: size });
  };

  /** Cosign tag-scheme referrers of everything written so far, copied under their tags. */
  const copyCosignTags = async (): Promise<void> => {
    const copied = new Set(written);
    const tags: string[] = [];
    for await (const tag of source.listTags(srcRepo)) {
      const subject = COSIGN_REFERRER_TAG.exec(tag.name)?.[1];
      if (subject !== undefined && copied.has(`sha256:${subject}`)) tags.push(tag.name);
    }
    for (const tag of tags.sort()) {
      const content = await source.getManifest(srcRepo, tag);
      if (copied.has(content.digest)) {
        // Already copied (it is also an OCI referrer): only the tag is missing.
        await target.putManifest(dstRepo, tag, content);
        continue;
      }
      await copyManifest(content, tag);
      for (const digest of written) copied.add(digest);
      counts.referrers += 1;
    }
  };

  /** Referrers of everything written so far, and of those, until none is new; each after its subject. */
  const copyReferrers = async (): Promise<void> => {
    const seen = new Set(written);
    const pending = [...written];
    while (pending.length > 0) {
      const subject = pending.shift() as string;
      let referrers: readonly Descriptor[];
      try {
        referrers = await source.listReferrers(srcRepo, subject);
      } catch (error) {
        if (!(error instanceof UnsupportedOperationError)) throw error;
        // Such a registry cannot list subject-based referrers at all; its signatures use tags.
        notes.push(`${error.message}; only cosign tag-scheme signatures were looked for`);
        return;
      }
      for (const referrer of referrers) {
        if (seen.has(referrer.digest)) continue;
        seen.add(referrer.digest);
        const before = written.length;
        await copyManifest(await source.getManifest(srcRepo, referrer.digest), referrer.digest);
        counts.referrers += 1;
        // The referrer, and the children of a referrer that is an index, may have referrers too.
        for (const digest of written.slice(before)) {
          seen.add(digest);
          pending.push(digest);
        }
      }
    }
  };

  const copyManifest = async (content: ManifestContent, reference: string): Promise<void> => {
    const manifest = parseManifest(content.bytes, content.mediaType, `${srcRepo}@${content.digest}`);
    if (manifest.isIndex) {
      for (const child of manifest.children) {
        const childContent = await source.getManifest(srcRepo, child.digest);
        await copyManifest(childContent, child.digest);
      }
    } else {
      const blobs = [...(manifest.config === undefined ? [] : [manifest.config]), ...manifest.layers];
      await mapConcurrent(blobs, concurrency, copyBlob);
    }
    const stored = await target.putManifest(dstRepo, reference, content);
    if (stored !== content.digest) {
      throw new StewardError(
        `the target stored ${dstRepo}@${content.digest} under a different digest (${stored}); the copy did not preserve it`,
      );
    }
    counts.manifests += 1;
    written.push(content.digest);
    request.onProgress?.({
      kind: "manifest",
      digest: content.digest,
      how: "written",
      bytes: content.bytes.length,
    });
  };

  return audited(
    request.audit,
    request.actor,
    {
      action: "copy",
      registry: target.loginServer,
      repository: dstRepo,
      ...(targetReference.tag === undefined ? {} : { tag: targetReference.tag }),
      details: {
        source: formatReference({ registry: source.loginServer, ...sourceReference }),
        ...(request.withReferrers ? { withReferrers: true } : {}),
      },
    },
    async () => {
      const root = await source.getManifest(srcRepo, manifestReference(sourceReference));
      if (targetReference.digest !== undefined && targetReference.digest !== root.digest) {
        throw new StewardError(
          `the target names digest ${targetReference.digest} but the source is ${root.digest}; a copy keeps the digest`,
        );
      }
      await copyManifest(root, targetReference.tag ?? root.digest);
      if (request.withReferrers) {
        await copyReferrers();
        await copyCosignTags();
      }
      return {
        source: formatReference({ registry: source.loginServer, ...sourceReference }),
        target: formatReference({ registry: target.loginServer, ...targetReference }),
        digest: root.digest,
        mediaType: root.mediaType,
        ...counts,
        notes,
      };
    },
  );
}
