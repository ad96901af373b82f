import { type Command, Option } from "commander";
import { z } from "zod";
import { PartialListingError } from "../../shared/errors/index.js";
import { collectListing, type ManifestSummary, parseRepositoryName } from "../../shared/registry/index.js";
import {
  addRegistryOptions,
  type CliDependencies,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { createProgress, formatBytes, formatTime, renderTable, shortDigest, writeJson } from "../output.js";

const LsFlagsSchema = z.intersection(
  RegistryFlagsSchema,
  z.object({
    order: z.enum(["newest", "oldest"]).optional(),
    pageSize: z.coerce.number().int().min(1).max(1000).optional(),
  }),
);

/** `acr-steward ls [REPOSITORY]`: the repositories, or one repository's manifests with their metadata. */
export function registerLsCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addRegistryOptions(
    program
      .command("ls")
      .description("List repositories, or the manifests of REPOSITORY (tags, size, platform, created, locks)")
      .argument("[repository]", "repository whose manifests to list"),
  )
    .addOption(
      new Option("--order <order>", "order manifests by last update (ACR only)").choices([
        "newest",
        "oldest",
      ]),
    )
    .addOption(new Option("--page-size <n>", "entries per registry call (1-1000, default 100)"))
    .action(async (repository: string | undefined, options: unknown) => {
      const flags = parseFlags(LsFlagsSchema, options);
      const registry = await deps.openRegistry(flags);
      const progress = createProgress(deps.io, "listing", { quiet: flags.json });
      const listOptions = flags.pageSize === undefined ? {} : { pageSize: flags.pageSize };

      if (repository === undefined) {
        const repositories = await collectWithProgress(
          registry.listRepositories(listOptions),
          progress,
          "repositories",
          deps,
          (items) => {
            if (!flags.json) deps.io.stdout.write(renderRepositories(items));
          },
        );
        progress.done();
        if (flags.json) writeJson(deps.io, { registry: registry.loginServer, repositories });
        else deps.io.stdout.write(renderRepositories(repositories));
        return;
      }

      const name = parseRepositoryName(repository);
      const manifests = await collectWithProgress(
        registry.listManifests(name, {
          ...listOptions,
          ...(flags.order === undefined
            ? {}
            : { order: flags.order === "newest" ? "newest-first" : "oldest-first" }),
        }),
        progress,
        "manifests",
        deps,
        (items) => {
          if (!flags.json) deps.io.stdout.write(renderManifests(items));
        },
      );
      progress.done();
      if (flags.json) {
        writeJson(deps.io, {
          registry: registry.loginServer,
          repository: name,
          listsUntaggedManifests: registry.capabilities.listsUntaggedManifests,
          manifests,
        });
      } else {
        deps.io.stdout.write(renderManifests(manifests));
        if (!registry.capabilities.listsUntaggedManifests) {
          deps.io.stderr.write(
            `note: ${registry.loginServer} is not an ACR; only manifests reachable from tags are listed, and locks are unknown\n`,
          );
        }
      }
    });
}

/**
 * Collects a listing while showing progress. A partial listing prints what was seen (humans only, under a
 * warning) and then fails: the exit code says the listing is incomplete.
 */
async function collectWithProgress<T>(
  listing: AsyncIterable<T>,
  progress: ReturnType<typeof createProgress>,
  what: string,
  deps: CliDependencies,
  showPartial: (items: readonly T[]) => void,
): Promise<T[]> {
  let count = 0;
  const counted: AsyncIterable<T> = {
    async *[Symbol.asyncIterator]() {
      for await (const item of listing) {
        count += 1;
        progress.update(`${count} ${what}`);
        yield item;
      }
    },
  };
  try {
    return await collectListing(counted);
  } catch (error) {
    progress.done();
    if (error instanceof PartialListingError && error.items.length > 0) {
      deps.io.stderr.write(
        `warning: INCOMPLETE listing, ${error.items.length} ${what} seen before the failure:\n`,
      );
      showPartial(error.items as T[]);
    }
    throw error;
  }
}

function renderRepositories(repositories: readonly string[]): string {
  return renderTable([{ header: "REPOSITORY", value: (name: string) => name }], repositories);
}

export function renderManifests(manifests: readonly ManifestSummary[]): string {
  return renderTable<ManifestSummary>(
    [
      { header: "DIGEST", value: (m) => shortDigest(m.digest) },
      { header: "TAGS", value: (m) => (m.tags.length === 0 ? "-" : m.tags.join(",")) },
      { header: "TYPE", value: kindOf },
      { header: "PLATFORM", value: platformOf },
      { header: "SIZE", value: (m) => formatBytes(m.sizeBytes), align: "right" },
      { header: "CREATED", value: (m) => formatTime(m.createdAt) },
      { header: "LOCKS", value: locksOf },
    ],
    manifests,
  );
}

/** index, image, the artifact type, "artifact" (a non-image config without a declared type), or "?". */
export function kindOf(m: {
  mediaType?: string;
  artifactType?: string;
  configMediaType?: string;
  children: readonly unknown[];
}): string {
  if (m.artifactType !== undefined) return m.artifactType;
  if (m.mediaType !== undefined && /index|manifest\.list/.test(m.mediaType)) return "index";
  if (m.mediaType === undefined && m.children.length > 0) return "index";
  if (m.configMediaType !== undefined) return IMAGE_CONFIGS.has(m.configMediaType) ? "image" : "artifact";
  return "?";
}

const IMAGE_CONFIGS = new Set([
  "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.container.image.v1+json",
]);

export function platformOf(m: ManifestSummary): string {
  if (m.children.length > 0) {
    const platforms = m.children
      .map((child) =>
        [child.platform?.os, child.platform?.architecture].filter((p) => p !== undefined).join("/"),
      )
      .filter((p) => p !== "");
    return platforms.length > 0 ? platforms.join(",") : `${m.children.length} children`;
  }
  if (m.os === undefined && m.architecture === undefined) return "-";
  return `${m.os ?? "?"}/${m.architecture ?? "?"}`;
}

export function locksOf(m: { locks?: { deleteEnabled: boolean; writeEnabled: boolean } }): string {
  if (m.locks === undefined) return "n/a";
  const locked = [
    m.locks.deleteEnabled ? undefined : "no-delete",
    m.locks.writeEnabled ? undefined : "no-write",
  ].filter((x) => x !== undefined);
  return locked.length === 0 ? "-" : locked.join(",");
}
