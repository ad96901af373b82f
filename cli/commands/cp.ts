import type { Command } from "commander";
import { z } from "zod";
import { JsonLinesAuditSink } from "../../shared/registry/audit.js";
import { type CopyResult, copyImage, parseImageReference } from "../../shared/registry/index.js";
import {
  addRegistryOptions,
  type CliDependencies,
  cliActor,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { createProgress, formatBytes, renderFields, writeJson } from "../output.js";

const CpFlagsSchema = z.intersection(RegistryFlagsSchema, z.object({ referrers: z.boolean().optional() }));

/** `acr-steward cp SRC DST [--referrers]`: copy an image or index (with its children), keeping the digest. */
export function registerCpCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addRegistryOptions(
    program
      .command("cp")
      .description(
        "Copy an image or a multi-platform index with all its children, keeping its digest (same registry: blob mounts; across registries: streamed)",
      )
      .argument("<source>", "[registry/]repository:tag or @digest")
      .argument("<target>", "[registry/]repository[:tag]; without a tag the source's tag is used")
      .option(
        "--referrers",
        "also copy what refers to the image: signatures, SBOMs and attestations from the OCI referrers API (recursively) and cosign's sha256-<digest>.sig/.att/.sbom tags",
      ),
  ).action(async (sourceText: string, targetText: string, options: unknown) => {
    const flags = parseFlags(CpFlagsSchema, options);
    const sourceReference = parseImageReference(sourceText);
    const targetReference = parseImageReference(targetText, { requireTagOrDigest: false });
    const source = await deps.openRegistry(flags, sourceReference.registry);
    const target =
      targetReference.registry === undefined || targetReference.registry === source.loginServer
        ? source
        : await deps.openRegistry(flags, targetReference.registry);
    const progress = createProgress(deps.io, "copying", { quiet: flags.json });
    let blobs = 0;
    let bytes = 0;
    const result = await copyImage({
      source,
      sourceReference,
      target,
      targetReference,
      audit: new JsonLinesAuditSink((line) => deps.io.stderr.write(line)),
      actor: cliActor(),
      withReferrers: flags.referrers === true,
      onProgress: (event) => {
        if (event.kind === "blob") blobs += 1;
        bytes += event.bytes;
        progress.update(`${blobs} blobs, ${formatBytes(bytes)}`);
      },
    });
    progress.done();
    if (flags.json) writeJson(deps.io, result);
    else {
      deps.io.stdout.write(renderCopy(result));
      for (const note of result.notes) deps.io.stderr.write(`note: ${note}\n`);
    }
  });
}

function renderCopy(result: CopyResult): string {
  return renderFields([
    ["source", result.source],
    ["target", result.target],
    ["digest", result.digest],
    ["media type", result.mediaType],
    ["manifests", `${result.manifests}${result.referrers > 0 ? ` (${result.referrers} referrers)` : ""}`],
    [
      "blobs",
      `${result.blobsUploaded} uploaded, ${result.blobsMounted} mounted, ${result.blobsSkipped} already there`,
    ],
    ["uploaded", formatBytes(result.bytesUploaded)],
  ]);
}
