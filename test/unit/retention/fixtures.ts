import type { RepositoryListing, RetentionCandidate } from "../../../shared/retention/candidates.js";
import type { RetentionPlan } from "../../../shared/retention/plan.js";
import type {
  AuditLog,
  AuditRow,
  Clock,
  Lease,
  RepositoryLeases,
  RetentionRegistry,
} from "../../../shared/retention/ports.js";

/** Builders and in-memory fakes of the retention ports, shared by the retention unit tests. */

export const REGISTRY = "steward.azurecr.io";
export const NOW = new Date("2026-06-01T00:00:00.000Z");
export const UNLIMITED = { perRepository: Number.MAX_SAFE_INTEGER, global: Number.MAX_SAFE_INTEGER };

/** A valid, readable digest made from a short name, so tests can say "a" and "index". */
export function digestOf(name: string): string {
  let hex = "";
  for (const character of name) hex += character.charCodeAt(0).toString(16).padStart(2, "0");
  return `sha256:${hex.padEnd(64, "0").slice(0, 64)}`;
}

export function daysAgo(days: number, now: Date = NOW): string {
  return new Date(now.getTime() - days * 86_400_000).toISOString();
}

export interface ManifestSpec {
  pushedDaysAgo?: number;
  tags?: (string | { name: string; updatedDaysAgo?: number; locked?: boolean })[];
  children?: string[];
  subject?: string;
  locked?: boolean;
  unreadable?: boolean;
  mediaType?: string;
  sizeInBytes?: number;
}

export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export function manifest(name: string, spec: ManifestSpec = {}): RetentionCandidate {
  return {
    digest: digestOf(name),
    mediaType: spec.mediaType ?? (spec.children ? OCI_INDEX : OCI_MANIFEST),
    sizeInBytes: spec.sizeInBytes ?? 1_000,
    pushedAt: daysAgo(spec.pushedDaysAgo ?? 100),
    tags: (spec.tags ?? []).map((tag) =>
      typeof tag === "string"
        ? { name: tag }
        : {
            name: tag.name,
            ...(tag.updatedDaysAgo === undefined ? {} : { updatedAt: daysAgo(tag.updatedDaysAgo) }),
            ...(tag.locked ? { deleteEnabled: false } : {}),
          },
    ),
    deleteEnabled: !spec.locked,
    writeEnabled: !spec.locked,
    children: (spec.children ?? []).map(digestOf),
    ...(spec.subject ? { subject: digestOf(spec.subject) } : {}),
    metadataReadable: !spec.unreadable,
  };
}

export function listing(
  repository: string,
  manifests: RetentionCandidate[],
  listingComplete = true,
): RepositoryListing {
  return { registry: REGISTRY, repository, listingComplete, manifests };
}

/** The decision for a digest in a plan (throws when missing, which is itself a failure). */
export function decisionFor(plan: RetentionPlan, name: string, repository?: string) {
  const digest = digestOf(name);
  for (const repo of plan.repositories) {
    if (repository !== undefined && repo.repository !== repository) continue;
    const found = repo.decisions.find((decision) => decision.digest === digest);
    if (found) return found;
  }
  throw new Error(`no decision for ${name}`);
}

/**
 * An in-memory registry holding listings. It implements the executor's port and records every
 * call, and can apply a plan directly (for the idempotency property).
 */
export class InMemoryRegistry implements RetentionRegistry {
  readonly calls: string[] = [];
  readonly repositories: Map<string, RepositoryListing>;
  failOn = new Set<string>();

  constructor(listings: RepositoryListing[]) {
    this.repositories = new Map(
      listings.map((entry) => [`${entry.registry}/${entry.repository}`, structuredClone(entry)]),
    );
  }

  listings(): RepositoryListing[] {
    return [...this.repositories.values()].map((entry) => structuredClone(entry));
  }

  private repo(registry: string, repository: string): RepositoryListing {
    const found = this.repositories.get(`${registry}/${repository}`);
    if (!found) throw new Error(`unknown repository ${repository}`);
    return found;
  }

  async deleteManifest(
    registry: string,
    repository: string,
    digest: string,
    expectedTags: readonly string[],
  ) {
    this.calls.push(`delete ${repository}@${digest}`);
    if (this.failOn.has(digest)) throw new Error("registry exploded");
    const repo = this.repo(registry, repository);
    const target = repo.manifests.find((entry) => entry.digest === digest);
    if (!target) return "not-found" as const;
    if (!target.deleteEnabled) return "locked" as const;
    if (target.tags.some((tag) => !expectedTags.includes(tag.name))) return "changed" as const;
    repo.manifests = repo.manifests.filter((entry) => entry.digest !== digest);
    return "deleted" as const;
  }

  async untag(registry: string, repository: string, tag: string, expectedDigest: string) {
    this.calls.push(`untag ${repository}:${tag}`);
    const repo = this.repo(registry, repository);
    const owner = repo.manifests.find((entry) => entry.tags.some((candidate) => candidate.name === tag));
    if (!owner) return "not-found" as const;
    if (owner.digest !== expectedDigest) return "changed" as const;
    if (!owner.writeEnabled) return "locked" as const;
    owner.tags = owner.tags.filter((candidate) => candidate.name !== tag);
    return "untagged" as const;
  }

  /** Applies a plan's actions directly, as an enforcing run without caps or failures would. */
  applyPlan(plan: RetentionPlan): void {
    for (const repoPlan of plan.repositories) {
      const repo = this.repo(repoPlan.registry, repoPlan.repository);
      for (const decision of repoPlan.decisions) {
        if (decision.action === "delete")
          repo.manifests = repo.manifests.filter((entry) => entry.digest !== decision.digest);
        if (decision.action === "untag") {
          const target = repo.manifests.find((entry) => entry.digest === decision.digest);
          if (target) target.tags = target.tags.filter((tag) => !decision.tags.includes(tag.name));
        }
      }
    }
  }
}

/** A registry that must never be called: dry runs prove they are read-only with it. */
export const explodingRegistry: RetentionRegistry = {
  deleteManifest: () => {
    throw new Error("dry run called deleteManifest");
  },
  untag: () => {
    throw new Error("dry run called untag");
  },
};

export class MemoryAuditLog implements AuditLog {
  readonly rows: AuditRow[] = [];
  failAfter = Number.POSITIVE_INFINITY;
  async append(row: AuditRow): Promise<void> {
    if (this.rows.length >= this.failAfter) throw new Error("audit table unavailable");
    this.rows.push(row);
  }
}

export class MemoryLeases implements RepositoryLeases {
  readonly held = new Map<string, string>();
  readonly log: string[] = [];
  async acquire(
    registry: string,
    repository: string,
    holder: string,
    _ttlMs: number,
  ): Promise<Lease | undefined> {
    const key = `${registry}/${repository}`;
    if (this.held.has(key)) return undefined;
    this.held.set(key, holder);
    this.log.push(`acquire ${repository}`);
    return {
      release: async () => {
        this.held.delete(key);
        this.log.push(`release ${repository}`);
      },
    };
  }
}

export class SteppingClock implements Clock {
  constructor(
    private current: number = NOW.getTime(),
    private readonly stepMs = 1_000,
  ) {}
  now(): Date {
    const value = new Date(this.current);
    this.current += this.stepMs;
    return value;
  }
}
