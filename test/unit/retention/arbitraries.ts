import fc from "fast-check";
import type {
  RepositoryListing,
  RetentionCandidate,
  RetentionTag,
} from "../../../shared/retention/candidates.js";
import type { RetentionPolicy } from "../../../shared/retention/policy.js";
import { validateRetentionPolicy } from "../../../shared/retention/policy.js";
import { daysAgo, digestOf, OCI_INDEX, OCI_MANIFEST, REGISTRY } from "./fixtures.js";

/** fast-check generators of random registries and random (valid) policies for the property tests. */

export const TAG_POOL = [
  "latest",
  "v1.0.0",
  "v1.2.0",
  "v1.10.0",
  "v2.0.0-rc.1",
  "1.2",
  "pr-1",
  "pr-2",
  "pr-3",
  "main-1",
  "main-2",
  "dev",
  "prod",
] as const;
const REPOSITORIES = ["team/web", "team/api", "team/web/cache", "sandbox/x", "ops"] as const;

/** True with the given percentage (fast-check's integers are biased towards small values, so not those). */
const percent = (truePercent: number) =>
  fc.oneof(
    { arbitrary: fc.constant(true), weight: truePercent },
    { arbitrary: fc.constant(false), weight: 100 - truePercent },
  );
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, presentPercent: number) =>
  fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 100 - presentPercent },
    { arbitrary: arbitrary, weight: presentPercent },
  );

const manifestShape = fc.record({
  pushedDaysAgo: fc.integer({ min: 0, max: 400 }),
  updatedDaysAgo: sometimes(fc.integer({ min: 0, max: 400 }), 30),
  locked: percent(8),
  unreadable: percent(4),
  mediaType: fc.oneof(
    { arbitrary: fc.constant("manifest"), weight: 70 },
    { arbitrary: fc.constant("index"), weight: 25 },
    { arbitrary: fc.constant("unknown"), weight: 5 },
  ),
  childPicks: fc.array(fc.nat(), { maxLength: 3 }),
  subjectPick: sometimes(fc.nat(), 15),
  cosignPick: sometimes(fc.nat(), 5),
  sizeInBytes: fc.integer({ min: 0, max: 10_000_000 }),
});

const repositoryShape = fc.record({
  name: fc.constantFrom(...REPOSITORIES),
  complete: percent(92),
  manifests: fc.array(manifestShape, { minLength: 0, maxLength: 12 }),
  /** For each tag of the pool: the manifest index that carries it (or none), its age, a lock. */
  tagOwners: fc.array(
    fc.record({
      owner: sometimes(fc.nat(), 70),
      updatedDaysAgo: sometimes(fc.integer({ min: 0, max: 400 }), 50),
      locked: percent(4),
    }),
    { minLength: TAG_POOL.length, maxLength: TAG_POOL.length },
  ),
});

export const registryArbitrary: fc.Arbitrary<RepositoryListing[]> = fc
  .uniqueArray(repositoryShape, { selector: (repo) => repo.name, maxLength: 4 })
  .map((repos) =>
    repos.map((repo): RepositoryListing => {
      const names = repo.manifests.map((_shape, index) => `${repo.name}#${index}`);
      const count = names.length;
      const manifests = repo.manifests.map((shape, index): RetentionCandidate => {
        const tags: RetentionTag[] = TAG_POOL.flatMap((tag, tagIndex): RetentionTag[] => {
          const owner = repo.tagOwners[tagIndex];
          if (!owner || owner.owner === undefined || count === 0 || owner.owner % count !== index) return [];
          return [
            {
              name: tag,
              ...(owner.updatedDaysAgo === undefined
                ? {}
                : { updatedAt: daysAgo(Math.min(owner.updatedDaysAgo, shape.pushedDaysAgo)) }),
              ...(owner.locked ? { deleteEnabled: false } : {}),
            },
          ];
        });
        if (shape.cosignPick !== undefined && count > 1) {
          const subject = names[shape.cosignPick % count] as string;
          tags.push({ name: `sha256-${digestOf(subject).slice(7)}.sig` });
        }
        const isIndex = shape.mediaType === "index";
        const children = isIndex
          ? [...new Set(shape.childPicks.map((pick) => names[pick % count] as string))]
              .filter((child) => child !== names[index])
              .map(digestOf)
          : [];
        const subject =
          shape.subjectPick !== undefined && count > 1 ? names[shape.subjectPick % count] : undefined;
        return {
          digest: digestOf(names[index] as string),
          ...(shape.mediaType === "unknown" ? {} : { mediaType: isIndex ? OCI_INDEX : OCI_MANIFEST }),
          sizeInBytes: shape.sizeInBytes,
          pushedAt: daysAgo(shape.pushedDaysAgo),
          ...(shape.updatedDaysAgo === undefined
            ? {}
            : { updatedAt: daysAgo(Math.min(shape.updatedDaysAgo, shape.pushedDaysAgo)) }),
          tags,
          deleteEnabled: !shape.locked,
          writeEnabled: true,
          children,
          ...(subject !== undefined && subject !== names[index] ? { subject: digestOf(subject) } : {}),
          metadataReadable: !shape.unreadable,
        };
      });
      return { registry: REGISTRY, repository: repo.name, listingComplete: repo.complete, manifests };
    }),
  );

const duration = fc.constantFrom("1h", "12h", "2d", "7d", "30d", "90d", "1w");
const tagMatch = fc.oneof(
  fc.constantFrom("v*", "pr-*", "main-*", "*", "1.*", "?rod", "dev").map((glob) => ({ glob })),
  fc.constantFrom(["pr-*", "dev"], ["v*", "1.2"]).map((glob) => ({ glob })),
  fc
    .constantFrom("v[0-9]+\\.[0-9]+\\.[0-9]+", "pr-[0-9]+", "(?!latest$).*", "main|dev")
    .map((regex) => ({ regex })),
);
const rank = fc.record({
  count: fc.integer({ min: 1, max: 4 }),
  orderBy: fc.constantFrom("pushed", "semver"),
});
const scope = fc.record(
  {
    include: fc.constantFrom(["**"], ["team/*"], ["team/**"], ["ops", "sandbox/*"]),
    exclude: fc.constantFrom(["team/web/**"], ["sandbox/**"]),
  },
  { requiredKeys: ["include"] },
);

const keepRule = fc
  .record({ tags: tagMatch, mostRecent: rank, newerThan: duration }, { requiredKeys: [] })
  .filter((conditions) => Object.keys(conditions).length > 0)
  .map((keep) => ({ keep }));
const tagDeleteRule = fc
  .record({ tags: tagMatch, taggedOlderThan: duration, beyondMostRecent: rank }, { requiredKeys: [] })
  .filter((conditions) => Object.keys(conditions).length > 0)
  .map((conditions) => ({ delete: conditions }));
const untaggedDeleteRule = fc
  .record(
    { untaggedOlderThan: duration, beyondMostRecent: rank.map((value) => ({ count: value.count })) },
    { requiredKeys: ["untaggedOlderThan"] },
  )
  .map((conditions) => ({ delete: conditions }));

export const policyArbitrary: fc.Arbitrary<RetentionPolicy> = fc
  .record({
    protectLatest: fc.boolean(),
    rules: fc.array(fc.tuple(scope, fc.oneof(keepRule, tagDeleteRule, tagDeleteRule, untaggedDeleteRule)), {
      minLength: 1,
      maxLength: 5,
    }),
  })
  .map(({ protectLatest, rules }) =>
    validateRetentionPolicy({
      version: 1,
      protectLatest,
      rules: rules.map(([repositories, body], index) => ({ id: `rule-${index}`, repositories, ...body })),
    }),
  );

/** The same registry in another order: repositories, manifests, tags and children shuffled. */
export function shuffled(listings: RepositoryListing[], random: () => number): RepositoryListing[] {
  const shuffle = <T>(items: readonly T[]): T[] => {
    const copy = [...items];
    for (let index = copy.length - 1; index > 0; index -= 1) {
      const other = Math.floor(random() * (index + 1));
      [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
    }
    return copy;
  };
  return shuffle(listings).map((repo) => ({
    ...repo,
    manifests: shuffle(repo.manifests).map((candidate) => ({
      ...candidate,
      tags: shuffle(candidate.tags),
      children: shuffle(candidate.children),
    })),
  }));
}
