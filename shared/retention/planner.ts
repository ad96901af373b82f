import {
  COSIGN_REFERRER_TAG,
  type RepositoryListing,
  type RetentionCandidate,
  SINGLE_MANIFEST_MEDIA_TYPES,
} from "./candidates.js";
import type {
  RepositoryPlan,
  RetentionCaps,
  RetentionDecision,
  RetentionGuard,
  RetentionPlan,
  RetentionTotals,
} from "./plan.js";
import {
  type CompiledPolicy,
  type CompiledRule,
  compileRetentionPolicy,
  type RetentionPolicy,
} from "./policy.js";
import { compareSemanticVersions, parseSemanticVersion, type SemanticVersion } from "./semver.js";

/**
 * The retention planner: a pure function of (listings, policy, now, caps). It never talks to a
 * registry; it returns a decision with a rule and a reason for every manifest it was given.
 *
 * Order of evaluation, per repository:
 *   1. rules: keep rules and delete rules are evaluated on the same state; any keep beats any delete;
 *   2. guards that no rule can switch off: partial listing, unreadable metadata, locks, `latest`,
 *      children of surviving indexes, referrers of surviving subjects;
 *   3. the result is applied to a copy of the state and the rules run again, until a pass changes
 *      nothing, so that the plan is a fixed point (planning after applying it finds nothing more);
 * then, across repositories, the per-run caps, after which the graph guards are checked again.
 * See docs/policy.md for the semantics with worked examples.
 */

export interface PlanRetentionOptions {
  readonly now: Date;
  readonly caps: RetentionCaps;
}

interface TagState {
  readonly name: string;
  /** Tag update time, or the manifest's push time when the registry did not say; NaN when unknown. */
  readonly timeMs: number;
  readonly lockedBy: string | undefined;
}

interface Proposal {
  action: "keep" | "delete" | "untag";
  tags: string[];
  ruleId: string | null;
  guard: RetentionGuard | null;
  reason: string;
}

interface ActionRecord {
  readonly pass: number;
  readonly action: "delete" | "untag";
  readonly tags: readonly string[];
  readonly ruleId: string | null;
  readonly reason: string;
}

interface ManifestState {
  readonly digest: string;
  readonly candidate: RetentionCandidate;
  readonly pushedMs: number;
  /** Latest of push and registry update time (not tags); NaN when unknown. */
  readonly baseFreshnessMs: number;
  readonly lastActivityMs: number;
  readonly unreadableWhy: string | undefined;
  readonly lockedWhy: string | undefined;
  readonly mayHideChildren: boolean;
  readonly originalTags: readonly string[];
  readonly subjectFromField: string | undefined;
  tags: TagState[];
  alive: boolean;
  actions: ActionRecord[];
  lastProposal: Proposal | undefined;
}

interface RepositoryState {
  readonly registry: string;
  readonly repository: string;
  readonly listingComplete: boolean;
  /** Why nothing may be decided in this repository (partial or inconsistent listing). */
  readonly partialWhy: string | undefined;
  /** An unreadable manifest that may be an index: its children are unknown, so nothing is deleted. */
  readonly unknownGraphWhy: string | undefined;
  readonly manifests: ManifestState[];
  readonly byDigest: Map<string, ManifestState>;
  readonly rules: readonly CompiledRule[];
}

const parseInstant = (text: string | undefined): number =>
  text === undefined ? Number.NaN : Date.parse(text);
const maxKnown = (...values: number[]): number => {
  let result = Number.NaN;
  for (const value of values)
    if (!Number.isNaN(value) && (Number.isNaN(result) || value > result)) result = value;
  return result;
};
const compareText = (left: string, right: string): number => (left < right ? -1 : left > right ? 1 : 0);

export function shortDigest(digest: string): string {
  const [algorithm, hex = ""] = digest.split(":");
  return `${algorithm}:${hex.slice(0, 12)}`;
}

function quoteList(values: readonly string[]): string {
  return values.join(", ");
}

// ---------------------------------------------------------------------------------------------
// Input normalization

function mergeCandidates(first: RetentionCandidate, second: RetentionCandidate): RetentionCandidate {
  const tags = new Map(first.tags.map((tag) => [tag.name, tag]));
  for (const tag of second.tags) {
    const existing = tags.get(tag.name);
    if (!existing) tags.set(tag.name, tag);
    else
      tags.set(tag.name, {
        name: tag.name,
        updatedAt: [existing.updatedAt, tag.updatedAt]
          .filter((v) => v !== undefined)
          .sort()
          .pop(),
        deleteEnabled: existing.deleteEnabled === false || tag.deleteEnabled === false ? false : undefined,
        writeEnabled: existing.writeEnabled === false || tag.writeEnabled === false ? false : undefined,
      });
  }
  const sameOrUndefined = <T>(left: T | undefined, right: T | undefined) =>
    left === right ? left : undefined;
  const earliest = [first.pushedAt, second.pushedAt].filter((v) => v !== undefined).sort()[0];
  return {
    digest: first.digest,
    mediaType: sameOrUndefined(first.mediaType, second.mediaType),
    artifactType: sameOrUndefined(first.artifactType, second.artifactType),
    sizeInBytes: Math.max(first.sizeInBytes, second.sizeInBytes),
    pushedAt: earliest,
    updatedAt: [first.updatedAt, second.updatedAt]
      .filter((v) => v !== undefined)
      .sort()
      .pop(),
    createdAt: sameOrUndefined(first.createdAt, second.createdAt),
    tags: [...tags.values()],
    deleteEnabled: first.deleteEnabled && second.deleteEnabled,
    writeEnabled: first.writeEnabled && second.writeEnabled,
    children: [...new Set([...first.children, ...second.children])],
    subject: sameOrUndefined(first.subject, second.subject),
    // Two different answers about one manifest: we do not know which is true.
    metadataReadable: first.metadataReadable && second.metadataReadable && first.subject === second.subject,
  };
}

function buildManifestState(candidate: RetentionCandidate): ManifestState {
  const pushedMs = parseInstant(candidate.pushedAt);
  const updatedMs = parseInstant(candidate.updatedAt);
  const tags = candidate.tags
    .map((tag): TagState => {
      const tagMs = parseInstant(tag.updatedAt);
      const lockedBy =
        tag.deleteEnabled === false
          ? "deleteEnabled=false"
          : tag.writeEnabled === false
            ? "writeEnabled=false"
            : undefined;
      return { name: tag.name, timeMs: tag.updatedAt === undefined ? pushedMs : tagMs, lockedBy };
    })
    .sort((left, right) => compareText(left.name, right.name));
  let unreadableWhy: string | undefined;
  if (!candidate.metadataReadable) unreadableWhy = "its manifest could not be read";
  else if (Number.isNaN(pushedMs)) unreadableWhy = "its push time is unknown";
  else if (candidate.updatedAt !== undefined && Number.isNaN(updatedMs))
    unreadableWhy = "its update time is unreadable";
  else if (tags.some((tag) => Number.isNaN(tag.timeMs))) unreadableWhy = "a tag's update time is unreadable";
  const lockedWhy = !candidate.deleteEnabled
    ? "deleteEnabled=false"
    : !candidate.writeEnabled
      ? "writeEnabled=false"
      : undefined;
  return {
    digest: candidate.digest,
    candidate,
    pushedMs,
    baseFreshnessMs: maxKnown(pushedMs, updatedMs),
    lastActivityMs: maxKnown(pushedMs, updatedMs, ...tags.map((tag) => tag.timeMs)),
    unreadableWhy,
    lockedWhy,
    mayHideChildren:
      !candidate.metadataReadable &&
      (candidate.mediaType === undefined || !SINGLE_MANIFEST_MEDIA_TYPES.has(candidate.mediaType)),
    originalTags: tags.map((tag) => tag.name),
    subjectFromField: candidate.subject,
    tags,
    alive: true,
    actions: [],
    lastProposal: undefined,
  };
}

function buildRepositoryStates(
  listings: readonly RepositoryListing[],
  policy: CompiledPolicy,
): RepositoryState[] {
  const grouped = new Map<
    string,
    { registry: string; repository: string; complete: boolean; manifests: Map<string, RetentionCandidate> }
  >();
  for (const listing of listings) {
    const key = `${listing.registry}\u0000${listing.repository}`;
    let group = grouped.get(key);
    if (!group) {
      group = {
        registry: listing.registry,
        repository: listing.repository,
        complete: true,
        manifests: new Map(),
      };
      grouped.set(key, group);
    }
    group.complete &&= listing.listingComplete;
    for (const candidate of listing.manifests) {
      const existing = group.manifests.get(candidate.digest);
      group.manifests.set(candidate.digest, existing ? mergeCandidates(existing, candidate) : candidate);
    }
  }
  const states: RepositoryState[] = [];
  for (const group of grouped.values()) {
    const manifests = [...group.manifests.values()]
      .map(buildManifestState)
      .sort((left, right) => compareText(left.digest, right.digest));
    const byDigest = new Map(manifests.map((manifest) => [manifest.digest, manifest]));
    let partialWhy = group.complete ? undefined : "the repository listing was incomplete";
    if (!partialWhy) {
      const owner = new Map<string, string>();
      for (const manifest of manifests) {
        for (const tag of manifest.originalTags) {
          const other = owner.get(tag);
          if (other !== undefined) {
            partialWhy = `the listing is inconsistent: tag ${tag} is on both ${shortDigest(other)} and ${shortDigest(manifest.digest)}`;
            break;
          }
          owner.set(tag, manifest.digest);
        }
        if (partialWhy) break;
      }
    }
    const hidden = manifests.find((manifest) => manifest.mayHideChildren);
    states.push({
      registry: group.registry,
      repository: group.repository,
      listingComplete: group.complete,
      partialWhy,
      unknownGraphWhy: hidden
        ? `${shortDigest(hidden.digest)} in this repository could not be read and may be an index whose children are unknown`
        : undefined,
      manifests,
      byDigest,
      rules: policy.rules.filter((rule) => rule.appliesToRepository(group.repository)),
    });
  }
  return states.sort(
    (left, right) =>
      compareText(left.registry, right.registry) || compareText(left.repository, right.repository),
  );
}

// ---------------------------------------------------------------------------------------------
// Rule evaluation (one pass over the current state of one repository)

function referrerSubjects(manifest: ManifestState, tagNames?: readonly string[]): string[] {
  const subjects: string[] = [];
  if (manifest.subjectFromField) subjects.push(manifest.subjectFromField);
  for (const name of tagNames ?? manifest.tags.map((tag) => tag.name)) {
    const match = COSIGN_REFERRER_TAG.exec(name);
    if (match) subjects.push(`sha256:${match[1]}`);
  }
  return subjects;
}

class TagMatchCache {
  private readonly cache = new Map<CompiledRule, Map<string, boolean>>();
  matching(rule: CompiledRule, manifest: ManifestState): string[] {
    const matcher = rule.tagMatcher;
    if (!matcher) return manifest.tags.map((tag) => tag.name);
    let perRule = this.cache.get(rule);
    if (!perRule) {
      perRule = new Map();
      this.cache.set(rule, perRule);
    }
    const result: string[] = [];
    for (const tag of manifest.tags) {
      let matches = perRule.get(tag.name);
      if (matches === undefined) {
        matches = matcher(tag.name);
        perRule.set(tag.name, matches);
      }
      if (matches) result.push(tag.name);
    }
    return result;
  }
}

/** The manifests a count condition keeps (`mostRecent`) or spares (`beyondMostRecent`). */
function topRanked(
  rule: CompiledRule,
  manifests: readonly ManifestState[],
  tags: TagMatchCache,
): Set<string> {
  const rank = rule.rank;
  if (!rank) return new Set();
  const population: { manifest: ManifestState; version: SemanticVersion | undefined }[] = [];
  for (const manifest of manifests) {
    // Referrers follow their subject; unreadable manifests cannot be placed (they are guarded anyway).
    if (!manifest.alive || manifest.unreadableWhy || referrerSubjects(manifest).length > 0) continue;
    if (rule.targetsUntagged) {
      if (manifest.tags.length === 0) population.push({ manifest, version: undefined });
      continue;
    }
    const considered = tags.matching(rule, manifest);
    if (considered.length === 0) continue;
    if (rank.orderBy === "semver") {
      let best: SemanticVersion | undefined;
      for (const name of considered) {
        const version = parseSemanticVersion(name);
        if (version && (!best || compareSemanticVersions(version, best) > 0)) best = version;
      }
      if (best) population.push({ manifest, version: best });
    } else {
      population.push({ manifest, version: undefined });
    }
  }
  population.sort((left, right) => {
    if (left.version && right.version) {
      const byVersion = compareSemanticVersions(right.version, left.version);
      if (byVersion !== 0) return byVersion;
    }
    return (
      right.manifest.pushedMs - left.manifest.pushedMs ||
      compareText(left.manifest.digest, right.manifest.digest)
    );
  });
  return new Set(population.slice(0, rank.count).map((entry) => entry.manifest.digest));
}

function describeRank(rule: CompiledRule, within: boolean): string {
  const rank = rule.rank;
  if (!rank) return "";
  const what = rank.orderBy === "semver" ? "highest versions" : "most recently pushed";
  return within ? `one of the ${rank.count} ${what}` : `beyond the ${rank.count} ${what}`;
}

interface RuleMatches {
  keepWhole: { rule: CompiledRule; why: string } | undefined;
  protectedTags: Map<string, CompiledRule>;
  firstKeep: { rule: CompiledRule; why: string } | undefined;
  doomedTags: Map<string, CompiledRule>;
  untaggedDelete: { rule: CompiledRule; why: string } | undefined;
  deleteWhy: Map<CompiledRule, string>;
}

function evaluateRules(
  repo: RepositoryState,
  nowMs: number,
  tags: TagMatchCache,
): Map<ManifestState, RuleMatches> {
  const results = new Map<ManifestState, RuleMatches>();
  const entry = (manifest: ManifestState): RuleMatches => {
    let matches = results.get(manifest);
    if (!matches) {
      matches = {
        keepWhole: undefined,
        protectedTags: new Map(),
        firstKeep: undefined,
        doomedTags: new Map(),
        untaggedDelete: undefined,
        deleteWhy: new Map(),
      };
      results.set(manifest, matches);
    }
    return matches;
  };
  for (const rule of repo.rules) {
    const top = rule.rank ? topRanked(rule, repo.manifests, tags) : undefined;
    for (const manifest of repo.manifests) {
      if (!manifest.alive) continue;
      if (rule.kind === "keep") {
        const matching = rule.tagMatcher ? tags.matching(rule, manifest) : undefined;
        if (matching && matching.length === 0) continue;
        if (top && !top.has(manifest.digest)) continue;
        const parts: string[] = [];
        if (matching)
          parts.push(
            `${matching.length === 1 ? "tag" : "tags"} ${quoteList(matching)} ${matching.length === 1 ? "matches" : "match"} ${rule.tagPatternText}`,
          );
        if (top) parts.push(describeRank(rule, true));
        if (rule.newerThanMs !== undefined) {
          const considered = matching ?? manifest.tags.map((tag) => tag.name);
          const tagTimes = manifest.tags
            .filter((tag) => considered.includes(tag.name))
            .map((tag) => tag.timeMs);
          const freshness = maxKnown(manifest.baseFreshnessMs, ...tagTimes);
          if (Number.isNaN(freshness) || nowMs - freshness >= rule.newerThanMs) continue;
          parts.push(`pushed or updated within ${rule.durationText.newerThan}`);
        }
        const matches = entry(manifest);
        const why = `kept by rule "${rule.id}": ${parts.join(", ")}`;
        matches.firstKeep ??= { rule, why };
        if (matching) {
          for (const name of matching)
            if (!matches.protectedTags.has(name)) matches.protectedTags.set(name, rule);
        } else {
          matches.keepWhole ??= { rule, why };
        }
        continue;
      }
      if (rule.targetsUntagged) {
        if (manifest.tags.length > 0) continue;
        if (top?.has(manifest.digest)) continue;
        if (top && !isRankable(manifest)) continue;
        const age = nowMs - manifest.baseFreshnessMs;
        if (!(age > (rule.untaggedOlderThanMs ?? 0))) continue;
        const parts = [`untagged with no activity for more than ${rule.durationText.untaggedOlderThan}`];
        if (top) parts.push(describeRank(rule, false));
        const matches = entry(manifest);
        matches.untaggedDelete ??= { rule, why: `deleted by rule "${rule.id}": ${parts.join(", ")}` };
        continue;
      }
      if (manifest.tags.length === 0) continue;
      if (top && (top.has(manifest.digest) || !isRankedByRule(rule, manifest, tags))) continue;
      const candidates = rule.tagMatcher ? new Set(tags.matching(rule, manifest)) : undefined;
      const doomed: string[] = [];
      for (const tag of manifest.tags) {
        if (candidates && !candidates.has(tag.name)) continue;
        if (rule.taggedOlderThanMs !== undefined && !(nowMs - tag.timeMs > rule.taggedOlderThanMs)) continue;
        doomed.push(tag.name);
      }
      if (doomed.length === 0) continue;
      const parts: string[] = [];
      if (rule.tagMatcher)
        parts.push(
          `${doomed.length === 1 ? "tag" : "tags"} ${quoteList(doomed)} ${doomed.length === 1 ? "matches" : "match"} ${rule.tagPatternText}`,
        );
      if (rule.taggedOlderThanMs !== undefined) {
        parts.push(
          `${rule.tagMatcher ? "" : `${doomed.length === 1 ? "tag" : "tags"} ${quoteList(doomed)} `}last pushed more than ${rule.durationText.taggedOlderThan} ago`,
        );
      }
      if (top) parts.push(describeRank(rule, false));
      const matches = entry(manifest);
      for (const name of doomed) if (!matches.doomedTags.has(name)) matches.doomedTags.set(name, rule);
      matches.deleteWhy.set(rule, `rule "${rule.id}": ${parts.join(", ")}`);
    }
  }
  return results;
}

function isRankable(manifest: ManifestState): boolean {
  return !manifest.unreadableWhy && referrerSubjects(manifest).length === 0;
}

/** Whether the manifest belongs to the population a tag rule's count condition ranks. */
function isRankedByRule(rule: CompiledRule, manifest: ManifestState, tags: TagMatchCache): boolean {
  if (!isRankable(manifest)) return false;
  const considered = tags.matching(rule, manifest);
  if (considered.length === 0) return false;
  if (rule.rank?.orderBy === "semver")
    return considered.some((name) => parseSemanticVersion(name) !== undefined);
  return true;
}

function describeManifest(repo: RepositoryState, manifest: ManifestState): string {
  const tags = manifest.tags.map((tag) => tag.name);
  return tags.length > 0
    ? `${shortDigest(manifest.digest)} (${tags.map((tag) => `${repo.repository}:${tag}`).join(", ")})`
    : `${shortDigest(manifest.digest)} (untagged)`;
}

function proposeForManifest(
  repo: RepositoryState,
  manifest: ManifestState,
  matches: RuleMatches | undefined,
  protectLatest: boolean,
): Proposal {
  const keep = (ruleId: string | null, guard: RetentionGuard | null, reason: string): Proposal => ({
    action: "keep",
    tags: [],
    ruleId,
    guard,
    reason,
  });
  if (!matches)
    return keep(null, null, manifest.tags.length > 0 ? "no rule matched" : "untagged; no rule matched");
  if (matches.keepWhole) return keep(matches.keepWhole.rule.id, null, matches.keepWhole.why);

  let proposal: Proposal;
  if (manifest.tags.length === 0) {
    if (!matches.untaggedDelete) return keep(null, null, "untagged; no rule matched");
    proposal = {
      action: "delete",
      tags: [],
      ruleId: matches.untaggedDelete.rule.id,
      guard: null,
      reason: matches.untaggedDelete.why,
    };
  } else {
    const removable: string[] = [];
    const overriddenByKeep: string[] = [];
    let tagGuard: { guard: RetentionGuard; rule: CompiledRule; why: string } | undefined;
    for (const tag of manifest.tags) {
      const rule = matches.doomedTags.get(tag.name);
      if (!rule) continue;
      if (matches.protectedTags.has(tag.name)) overriddenByKeep.push(tag.name);
      else if (protectLatest && tag.name === "latest")
        tagGuard ??= { guard: "latest-tag", rule, why: "the tag latest is protected (protectLatest)" };
      else if (tag.lockedBy)
        tagGuard ??= { guard: "locked", rule, why: `tag ${tag.name} is locked (${tag.lockedBy})` };
      else removable.push(tag.name);
    }
    const firstRule = removable.length > 0 ? matches.doomedTags.get(removable[0] as string) : undefined;
    if (!firstRule) {
      if (tagGuard) {
        const wanted = matches.deleteWhy.get(tagGuard.rule) ?? `rule "${tagGuard.rule.id}"`;
        return keep(tagGuard.rule.id, tagGuard.guard, `${tagGuard.why}; would have acted on ${wanted}`);
      }
      if (matches.firstKeep) {
        const suffix =
          overriddenByKeep.length > 0 ? ` (keep beats delete for ${quoteList(overriddenByKeep)})` : "";
        return keep(matches.firstKeep.rule.id, null, `${matches.firstKeep.why}${suffix}`);
      }
      return keep(null, null, "no rule matched");
    }
    const rulesUsed = [...new Set(removable.map((name) => matches.doomedTags.get(name) as CompiledRule))];
    const why = rulesUsed.map((rule) => matches.deleteWhy.get(rule) ?? `rule "${rule.id}"`).join("; ");
    if (removable.length === manifest.tags.length) {
      proposal = {
        action: "delete",
        tags: [...removable],
        ruleId: firstRule.id,
        guard: null,
        reason: `deleted by ${why}`,
      };
    } else {
      const staying = manifest.tags.map((tag) => tag.name).filter((name) => !removable.includes(name));
      const stayWhy = matches.firstKeep
        ? ` (${matches.firstKeep.why})`
        : tagGuard
          ? ` (${tagGuard.why})`
          : "";
      proposal = {
        action: "untag",
        tags: removable,
        ruleId: firstRule.id,
        guard: null,
        reason: `untagged by ${why}; ${quoteList(staying)} ${staying.length === 1 ? "stays" : "stay"}${stayWhy}`,
      };
    }
  }

  // Guards that depend only on the repository and the manifest itself.
  const blocked = (guard: RetentionGuard, why: string) =>
    keep(
      proposal.ruleId,
      guard,
      `${why}; would have been ${proposal.action === "delete" ? "deleted" : "untagged"} by rule "${proposal.ruleId}"`,
    );
  if (repo.partialWhy)
    return blocked("partial-listing", `nothing is decided from a partial listing: ${repo.partialWhy}`);
  if (manifest.unreadableWhy)
    return blocked("metadata-unreadable", `kept because ${manifest.unreadableWhy} (fail closed)`);
  if (manifest.lockedWhy) return blocked("locked", `manifest is locked (${manifest.lockedWhy})`);
  if (proposal.action === "delete" && repo.unknownGraphWhy) {
    return blocked("metadata-unreadable", `nothing is deleted here because ${repo.unknownGraphWhy}`);
  }
  return proposal;
}

/** Children of surviving indexes and referrers of surviving subjects survive too (recursively). */
function protectGraph(repo: RepositoryState, proposals: Map<ManifestState, Proposal>): void {
  const referrersBySubject = new Map<string, ManifestState[]>();
  for (const manifest of repo.manifests) {
    if (!manifest.alive) continue;
    for (const subject of referrerSubjects(manifest)) {
      const list = referrersBySubject.get(subject);
      if (list) list.push(manifest);
      else referrersBySubject.set(subject, [manifest]);
    }
  }
  const visited = new Set<ManifestState>();
  const queue: ManifestState[] = [];
  for (const manifest of repo.manifests) {
    if (manifest.alive && proposals.get(manifest)?.action !== "delete") queue.push(manifest);
  }
  while (queue.length > 0) {
    const survivor = queue.pop() as ManifestState;
    if (visited.has(survivor)) continue;
    visited.add(survivor);
    for (const childDigest of survivor.candidate.children) {
      const child = repo.byDigest.get(childDigest);
      const proposal = child?.alive ? proposals.get(child) : undefined;
      if (!child || !proposal || proposal.action !== "delete") continue;
      proposals.set(child, {
        action: "keep",
        tags: [],
        ruleId: proposal.ruleId,
        guard: "index-child",
        reason: `platform child of kept index ${describeManifest(repo, survivor)}; would have been deleted by rule "${proposal.ruleId}"`,
      });
      queue.push(child);
    }
    for (const referrer of referrersBySubject.get(survivor.digest) ?? []) {
      const proposal = proposals.get(referrer);
      if (!proposal || proposal.action === "keep") continue;
      proposals.set(referrer, {
        action: "keep",
        tags: [],
        ruleId: proposal.ruleId,
        guard: "referrer-subject",
        reason: `refers to ${describeManifest(repo, survivor)}, which is kept; would have been ${proposal.action === "delete" ? "deleted" : "untagged"} by rule "${proposal.ruleId}"`,
      });
      queue.push(referrer);
    }
  }
}

function planRepositoryPasses(repo: RepositoryState, policy: CompiledPolicy, nowMs: number): void {
  const tagCache = new TagMatchCache();
  const maxPasses = repo.manifests.reduce((sum, manifest) => sum + manifest.tags.length + 1, 1);
  for (let pass = 1; pass <= maxPasses; pass += 1) {
    const matches = evaluateRules(repo, nowMs, tagCache);
    const proposals = new Map<ManifestState, Proposal>();
    for (const manifest of repo.manifests) {
      if (manifest.alive)
        proposals.set(
          manifest,
          proposeForManifest(repo, manifest, matches.get(manifest), policy.protectLatest),
        );
    }
    protectGraph(repo, proposals);
    let acted = false;
    for (const [manifest, proposal] of proposals) {
      manifest.lastProposal = proposal;
      if (proposal.action === "keep") continue;
      acted = true;
      manifest.actions.push({
        pass,
        action: proposal.action,
        tags: proposal.tags,
        ruleId: proposal.ruleId,
        reason: proposal.reason,
      });
      if (proposal.action === "delete") manifest.alive = false;
      else manifest.tags = manifest.tags.filter((tag) => !proposal.tags.includes(tag.name));
    }
    if (!acted) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions, caps and totals

interface WorkingDecision {
  readonly repo: RepositoryState;
  readonly manifest: ManifestState;
  decision: RetentionDecision;
}

function toIso(milliseconds: number): string | null {
  return Number.isNaN(milliseconds) ? null : new Date(milliseconds).toISOString();
}

function initialDecision(manifest: ManifestState): RetentionDecision {
  const base = {
    digest: manifest.digest,
    sizeInBytes: manifest.candidate.sizeInBytes,
    pushedAt: toIso(manifest.pushedMs),
    lastActivityAt: toIso(manifest.lastActivityMs),
  };
  const deletion = manifest.actions.find((action) => action.action === "delete");
  const untags = manifest.actions.filter((action) => action.action === "untag");
  if (deletion) {
    const earlier =
      untags.length > 0 ? ` (after an earlier pass removed ${quoteList(untags.flatMap((u) => u.tags))})` : "";
    return {
      ...base,
      action: "delete",
      tags: [...manifest.originalTags],
      ruleId: deletion.ruleId,
      guard: null,
      reason: `${deletion.reason}${earlier}`,
      pass: deletion.pass,
    };
  }
  if (untags.length > 0) {
    return {
      ...base,
      action: "untag",
      tags: untags.flatMap((untag) => untag.tags).sort(compareText),
      ruleId: untags[0]?.ruleId ?? null,
      guard: null,
      reason: untags.map((untag) => untag.reason).join("; then "),
      pass: Math.max(...untags.map((untag) => untag.pass)),
    };
  }
  const last = manifest.lastProposal;
  return {
    ...base,
    action: "keep",
    tags: [],
    ruleId: last?.ruleId ?? null,
    guard: last?.guard ?? null,
    reason: last?.reason ?? "no rule matched",
    pass: 0,
  };
}

function actionOrder(left: WorkingDecision, right: WorkingDecision): number {
  return (
    left.decision.pass - right.decision.pass ||
    left.manifest.lastActivityMs - right.manifest.lastActivityMs ||
    compareText(left.repo.registry, right.repo.registry) ||
    compareText(left.repo.repository, right.repo.repository) ||
    compareText(left.decision.digest, right.decision.digest)
  );
}

function holdBack(work: WorkingDecision, guard: RetentionGuard, why: string): void {
  const original = work.decision;
  const verb = original.action === "delete" ? "deleted" : `untagged (${quoteList(original.tags)})`;
  work.decision = {
    ...original,
    action: "keep",
    tags: [],
    guard,
    reason: `${why}; would have been ${verb} by rule "${original.ruleId}": ${original.reason}`,
    pass: 0,
  };
}

/**
 * Applies the caps, oldest action first (earlier passes before later ones), then restores the
 * invariants the held-back actions touch: children and referrers of what now survives, and
 * actions of later passes that assumed the held-back ones.
 */
function applyCaps(byRepository: Map<RepositoryState, WorkingDecision[]>, caps: RetentionCaps): void {
  const heldByCap = new Map<WorkingDecision, string>();
  const withinRepositoryCaps: WorkingDecision[] = [];
  for (const list of byRepository.values()) {
    const actions = list.filter((work) => work.decision.action !== "keep").sort(actionOrder);
    actions.forEach((work, position) => {
      if (position < caps.perRepository) withinRepositoryCaps.push(work);
      else heldByCap.set(work, `${caps.perRepository} per repository`);
    });
  }
  withinRepositoryCaps.sort(actionOrder).forEach((work, position) => {
    if (position >= caps.global) heldByCap.set(work, `${caps.global} per run`);
  });
  const affected = new Set<RepositoryState>();
  for (const [work, which] of heldByCap) {
    holdBack(work, "deletion-cap", `the cap of ${which} destructive actions was reached`);
    affected.add(work.repo);
  }
  for (const repo of affected) restoreInvariantsAfterHoldBack(repo, byRepository.get(repo) ?? []);
}

/** Repeats until stable: later passes wait for held-back earlier ones; survivors keep children and referrers. */
function restoreInvariantsAfterHoldBack(repo: RepositoryState, list: WorkingDecision[]): void {
  const byDigest = new Map(list.map((work) => [work.manifest.digest, work]));
  const referrersBySubject = new Map<string, WorkingDecision[]>();
  for (const work of list) {
    for (const subject of referrerSubjects(work.manifest, work.manifest.originalTags)) {
      const referrers = referrersBySubject.get(subject);
      if (referrers) referrers.push(work);
      else referrersBySubject.set(subject, [work]);
    }
  }
  const heldPass = (work: WorkingDecision) => Math.min(...work.manifest.actions.map((action) => action.pass));
  for (;;) {
    let changed = false;
    let earliestHeld = Number.POSITIVE_INFINITY;
    for (const work of list) {
      if (work.decision.action === "keep" && work.manifest.actions.length > 0) {
        earliestHeld = Math.min(earliestHeld, heldPass(work));
      }
    }
    for (const work of list) {
      if (work.decision.action !== "keep" && work.decision.pass > earliestHeld) {
        holdBack(work, "deletion-cap", "it depends on an earlier action that was held back");
        changed = true;
      }
    }
    for (const work of list) {
      if (work.decision.action === "delete") continue;
      for (const childDigest of work.manifest.candidate.children) {
        const child = byDigest.get(childDigest);
        if (child?.decision.action === "delete") {
          holdBack(
            child,
            "index-child",
            `platform child of kept index ${describeManifest(repo, work.manifest)}`,
          );
          changed = true;
        }
      }
      for (const referrer of referrersBySubject.get(work.manifest.digest) ?? []) {
        if (referrer.decision.action === "keep") continue;
        holdBack(
          referrer,
          "referrer-subject",
          `refers to ${describeManifest(repo, work.manifest)}, which is kept`,
        );
        changed = true;
      }
    }
    if (!changed) return;
  }
}

function totalsOf(decisions: readonly RetentionDecision[]): RetentionTotals {
  const totals: RetentionTotals = {
    manifests: 0,
    keep: 0,
    delete: 0,
    untag: 0,
    tagsRemoved: 0,
    bytesReclaimable: 0,
    guarded: 0,
  };
  for (const decision of decisions) {
    totals.manifests += 1;
    totals[decision.action] += 1;
    if (decision.action !== "keep") totals.tagsRemoved += decision.tags.length;
    if (decision.action === "delete") totals.bytesReclaimable += decision.sizeInBytes;
    if (decision.guard !== null) totals.guarded += 1;
  }
  return totals;
}

function sumTotals(all: readonly RetentionTotals[]): RetentionTotals {
  const sum: RetentionTotals = {
    manifests: 0,
    keep: 0,
    delete: 0,
    untag: 0,
    tagsRemoved: 0,
    bytesReclaimable: 0,
    guarded: 0,
  };
  for (const totals of all)
    for (const key of Object.keys(sum) as (keyof RetentionTotals)[]) sum[key] += totals[key];
  return sum;
}

/**
 * Plans retention for the given repository listings.
 *
 * @example
 *   const policy = parseRetentionPolicy(readFileSync("retention.yaml", "utf8"));
 *   const plan = planRetention(listings, policy, { now: new Date(), caps: { perRepository: 100, global: 1000 } });
 *   for (const repo of plan.repositories) for (const d of repo.decisions) console.log(d.action, d.digest, d.reason);
 */
export function planRetention(
  listings: readonly RepositoryListing[],
  policy: RetentionPolicy,
  options: PlanRetentionOptions,
): RetentionPlan {
  const nowMs = options.now.getTime();
  if (Number.isNaN(nowMs)) throw new RangeError("planRetention: 'now' is not a valid date");
  const compiled = compileRetentionPolicy(policy);
  const repositories = buildRepositoryStates(listings, compiled);
  const byRepository = new Map<RepositoryState, WorkingDecision[]>();
  for (const repo of repositories) {
    planRepositoryPasses(repo, compiled, nowMs);
    byRepository.set(
      repo,
      repo.manifests.map((manifest) => ({ repo, manifest, decision: initialDecision(manifest) })),
    );
  }
  applyCaps(byRepository, options.caps);
  const repositoryPlans: RepositoryPlan[] = repositories.map((repo) => {
    const decisions = (byRepository.get(repo) ?? []).map((work) => work.decision);
    return {
      registry: repo.registry,
      repository: repo.repository,
      listingComplete: repo.listingComplete,
      decisions,
      totals: totalsOf(decisions),
    };
  });
  return {
    version: 1,
    plannedAt: options.now.toISOString(),
    caps: { perRepository: options.caps.perRepository, global: options.caps.global },
    repositories: repositoryPlans,
    totals: sumTotals(repositoryPlans.map((plan) => plan.totals)),
  };
}
