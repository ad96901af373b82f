import type { RegistryEvent } from "../../../shared/events/registryEvent.js";
import type { InventoryStore } from "../../../shared/inventory/ports.js";

/**
 * A generated registry history for storm tests and the benchmark: pushes (with and without tags,
 * moving tags, re-pushing deleted digests) and deletes over several registries and repositories,
 * at strictly increasing times, then duplicated and shuffled the way Event Grid may deliver it.
 */

export interface StormOptions {
  readonly uniqueEvents: number;
  /** Share of extra deliveries of already generated events (0.2 → 20 % of the delivered total). */
  readonly duplicateShare: number;
  readonly seed: number;
  readonly registries?: readonly string[];
  readonly repositories?: number;
  readonly digestsPerRepository?: number;
  readonly tagsPerRepository?: number;
}

export interface Storm {
  readonly history: readonly RegistryEvent[];
  readonly delivered: readonly RegistryEvent[];
}

/** The final truth: what a registry that saw the history in time order holds. */
export interface Truth {
  /** `registry/repository@digest` → present or deleted, for every digest ever seen. */
  readonly manifests: Map<string, "present" | "deleted">;
  /** `registry/repository:tag` → digest, for tags that exist at the end. */
  readonly tags: Map<string, string>;
}

export function randomGenerator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32: deterministic, good enough to shuffle test data.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

export function digestFor(repository: number, n: number): string {
  return `sha256:${(repository * 10_000 + n).toString(16).padStart(64, "0")}`;
}

export function generateStorm(options: StormOptions): Storm {
  const random = randomGenerator(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const registries = options.registries ?? ["one.azurecr.io", "two.azurecr.io:5000"];
  const repositories = Array.from({ length: options.repositories ?? 40 }, (_, i) => ({
    registry: registries[i % registries.length] as string,
    repository: i % 3 === 0 ? `team${i}/service/api` : `app${i}`,
    index: i,
  }));
  const digestCount = options.digestsPerRepository ?? 25;
  const tagCount = options.tagsPerRepository ?? 6;

  let time = Date.parse("2024-03-01T00:00:00Z");
  const history: RegistryEvent[] = [];
  for (let i = 0; i < options.uniqueEvents; i++) {
    time += 1 + Math.floor(random() * 2000);
    const repo = pick(repositories);
    const digest = digestFor(repo.index, Math.floor(random() * digestCount));
    const kind = random() < 0.2 ? "delete" : "push";
    const tag = kind === "push" && random() < 0.7 ? `v${Math.floor(random() * tagCount)}` : undefined;
    history.push({
      id: `storm-${options.seed}-${i}`,
      kind,
      registry: repo.registry,
      repository: repo.repository,
      digest,
      ...(tag !== undefined && { tag }),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: kind === "push" ? 500 + (i % 700) : 0,
      occurredAt: formatTime(time, random),
      actor: `user${i % 7}`,
      source: "eventgrid",
    });
  }

  const duplicates = Math.round(
    (options.uniqueEvents * options.duplicateShare) / (1 - options.duplicateShare),
  );
  const delivered = [...history];
  for (let i = 0; i < duplicates; i++) delivered.push({ ...pick(history) });
  for (let i = delivered.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [delivered[i], delivered[j]] = [delivered[j] as RegistryEvent, delivered[i] as RegistryEvent];
  }
  return { history, delivered };
}

/** Event times come in the precisions and offsets ACR uses; the instant is what counts. */
function formatTime(epochMs: number, random: () => number): string {
  const iso = new Date(epochMs).toISOString();
  const style = random();
  if (style < 0.4) return iso.replace(/\.(\d{3})Z$/, ".$10000Z");
  if (style < 0.7) return iso;
  const shifted = new Date(epochMs + 2 * 3_600_000).toISOString();
  return shifted.replace(/Z$/, "+02:00");
}

export function computeTruth(history: readonly RegistryEvent[]): Truth {
  const ordered = [...history].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const manifests = new Map<string, "present" | "deleted">();
  const tags = new Map<string, string>();
  for (const event of ordered) {
    const repository = `${event.registry}/${event.repository}`;
    if (event.kind === "push") {
      manifests.set(`${repository}@${event.digest}`, "present");
      if (event.tag !== undefined) tags.set(`${repository}:${event.tag}`, event.digest);
    } else {
      manifests.set(`${repository}@${event.digest}`, "deleted");
      for (const [tag, digest] of tags) {
        if (digest === event.digest && tag.startsWith(`${repository}:`)) tags.delete(tag);
      }
    }
  }
  return { manifests, tags };
}

/** What the inventory holds, in the same shape as the independently computed truth. */
export async function readInventory(
  inventory: InventoryStore,
  repositories: Iterable<string>,
): Promise<Truth> {
  const manifests = new Map<string, "present" | "deleted">();
  const tags = new Map<string, string>();
  for await (const image of inventory.listImages({ includeDeleted: true })) {
    manifests.set(`${image.registry}/${image.repository}@${image.digest}`, image.state);
  }
  for (const key of repositories) {
    const [registry, ...path] = key.split("/");
    for (const tag of await inventory.listTags(registry as string, path.join("/"))) {
      tags.set(`${key}:${tag.tag}`, tag.digest);
    }
  }
  return { manifests, tags };
}
