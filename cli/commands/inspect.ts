import type { Command } from "commander";
import { formatReference, type ManifestDetails, parseImageReference } from "../../shared/registry/index.js";
import {
  addRegistryOptions,
  type CliDependencies,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { formatBytes, formatTime, renderFields, renderTable, writeJson } from "../output.js";
import { kindOf, locksOf } from "./ls.js";

/** `acr-steward inspect REF`: digest, type, size, platforms, created time, tags, locks, subject. */
export function registerInspectCommand(
  program: Command,
  deps: CliDependencies = defaultDependencies(),
): void {
  addRegistryOptions(
    program
      .command("inspect")
      .description(
        "Show one manifest: digest, media type, size, platform(s), created time, tags, locks, subject",
      )
      .argument(
        "<reference>",
        "repository:tag or repository@sha256:... (optionally prefixed by the registry)",
      ),
  ).action(async (text: string, options: unknown) => {
    const flags = parseFlags(RegistryFlagsSchema, options);
    const reference = parseImageReference(text);
    const registry = await deps.openRegistry(flags, reference.registry);
    const details = await registry.inspect(reference);
    if (flags.json) writeJson(deps.io, details);
    else deps.io.stdout.write(renderDetails(formatReference(reference), details));
  });
}

export function renderDetails(reference: string, d: ManifestDetails): string {
  const fields: [string, string][] = [
    ["reference", reference],
    ["digest", d.digest],
    ["media type", d.mediaType],
    ["kind", kindOf(d)],
    [
      "size",
      d.sizeBytes === undefined
        ? `? (manifest ${formatBytes(d.manifestSizeBytes)})`
        : formatBytes(d.sizeBytes),
    ],
    [
      "platform",
      d.platforms.length > 0 ? "multi-platform index (below)" : `${d.os ?? "?"}/${d.architecture ?? "?"}`,
    ],
    ["created", `${formatTime(d.createdAt)}${d.createdFrom === undefined ? "" : ` (from ${d.createdFrom})`}`],
    ["tags", d.tags.length === 0 ? "-" : `${d.tags.join(", ")}${d.tagsKnown ? "" : " (others unknown)"}`],
    ["locks", locksOf(d)],
  ];
  if (d.subject !== undefined) fields.push(["subject", d.subject.digest]);
  if (d.config !== undefined) fields.push(["config", `${d.config.mediaType ?? "?"} ${d.config.digest}`]);
  if (d.layers.length > 0) fields.push(["layers", String(d.layers.length)]);
  let text = renderFields(fields);
  if (d.platforms.length > 0) {
    text += `\n${renderTable(
      [
        {
          header: "PLATFORM",
          value: (p: (typeof d.platforms)[number]) =>
            [p.os ?? "?", p.architecture ?? "?", p.variant].filter(Boolean).join("/"),
        },
        { header: "DIGEST", value: (p: (typeof d.platforms)[number]) => p.digest },
      ],
      d.platforms,
    )}`;
  }
  return text;
}
