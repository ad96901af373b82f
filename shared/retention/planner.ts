import {
  COSIGN_REFERRER_TAG,
  type RepositoryListing,
  type RetentionCandidate,
  type RetentionTag,
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
  /** The pass that carried the proposal out; 0 until then (and for keeps). */
  pass: number;
  /** Once carried out: the manifest's action before this one, if any. */
  previous: ActionRecord | undefined;
}

/** A carried-out proposal is its own record: no copy per action. */
type ActionRecord = Proposal & { readonly action: "delete" | "untag" };

/**
 * One manifest of a repository while it is planned. The states of a repository are created
 * empty, in digest order, and filled from the listing in input order: the loops over the states
 * then walk memory in order, and reading the listing does too.
 */
interface ManifestState {
  /** Position in the repository's digest-sorted manifest list. */
  readonly index: number;
  digest: string;
  candidate: RetentionCandidate;
  /** Copied from the listing while it is at hand: decisions are made in digest order. */
  sizeInBytes: number;
  // The manifest's instants (milliseconds) live in its repository's `instants` table, not here:
  // a number field that is not a small integer costs one more heap object per manifest.
  /** Normalized ISO forms of push time and last activity, for the decision. */
  pushedAt: string | null;
  lastActivityAt: string | null;
  unreadableWhy: string | undefined;
  lockedWhy: string | undefined;
  originalTags: readonly string[];
  /** Subjects this manifest refers to (OCI subject, cosign tags among its original tags). */
  originalSubjects: readonly string[];
  tags: TagState[];
  /** Subjects by the current tags; referrers are not ranked and follow their subject. */
  subjects: readonly string[];
  alive: boolean;
  /** The last action carried out on the manifest (each links to the one before), if any. */
  lastAction: ActionRecord | undefined;
  proposal: Proposal | undefined;
}

/**
 * An empty state, filled later. An object literal on purpose: the engine notices that what this
 * one allocation site creates survives, and then allocates it where long-lived objects live,
 * instead of copying 100,000 of them out of the young generation (a class constructor does not
 * get that treatment here; measured: about 15 % of planning time).
 */
function emptyState(index: number): ManifestState {
  return {
    index,
    digest: "",
    candidate: EMPTY_CANDIDATE,
    sizeInBytes: 0,
    pushedAt: null,
    lastActivityAt: null,
    unreadableWhy: undefined,
    lockedWhy: undefined,
    originalTags: NO_TAGS,
    originalSubjects: NO_TAGS,
    tags: NO_TAG_STATES,
    subjects: NO_TAGS,
    alive: true,
    lastAction: undefined,
    proposal: undefined,
  };
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
  readonly instants: InstantTable;
  /** Some manifest lists platform children: the graph guards have work. */
  readonly hasChildren: boolean;
  /** By manifest index: 1 where the manifest lists platform children. */
  readonly parentFlags: Uint8Array;
  /** Manifests by digest, only where children or subjects need looking up. */
  readonly byDigest: DigestIndex | undefined;
  readonly rules: readonly CompiledRule[];
  /** How many tags the listings carry in all, at least as many as the manifests: each pass but the last removes one or more. */
  readonly tagCount: number;
}

/**
 * Three instants per manifest, by manifest index: push time; base freshness (latest of push and
 * registry update time, not tags); last activity (latest of those and the tag times). NaN when unknown.
 */
type InstantTable = Float64Array;
const PUSHED = 0;
const BASE_FRESHNESS = 1;
const LAST_ACTIVITY = 2;
const INSTANTS_PER_MANIFEST = 3;

const NO_TAGS: readonly string[] = Object.freeze([]);
const NO_TAG_STATES: TagState[] = Object.freeze([]) as unknown as TagState[];
/** A placeholder, always replaced. */
const NO_TAG_STATE: TagState = Object.freeze({ name: "", timeMs: 0, lockedBy: undefined });
/** What an empty state points at until it is filled. */
const EMPTY_CANDIDATE: RetentionCandidate = Object.freeze({
  digest: "",
  sizeInBytes: 0,
  tags: [],
  deleteEnabled: false,
  writeEnabled: false,
  children: [],
  metadataReadable: false,
});
/** The actions carried out on a manifest, first to last. */
function actionsOf(manifest: ManifestState): ActionRecord[] {
  const actions: ActionRecord[] = [];
  for (let action = manifest.lastAction; action; action = action.previous) actions.push(action);
  return actions.reverse();
}

const DIGIT_0 = 48;

/** Two ASCII digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const tens = text.charCodeAt(at) - DIGIT_0;
  const ones = text.charCodeAt(at + 1) - DIGIT_0;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

/**
 * Days from 1970-01-01 to a date of the proleptic Gregorian calendar (month 1 to 12), by the
 * well-known civil-from-days arithmetic on 400-year eras: the same as Date.UTC, without its cost.
 */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const marchBased = month <= 2 ? year - 1 : year;
  const era = Math.floor(marchBased / 400);
  const yearOfEra = marchBased - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Milliseconds of an instant. Registries send the canonical UTC form (`2026-05-01T12:00:00.000Z`);
 * reading its digits directly costs a fraction of Date.parse. Anything else, and any field whose
 * range needs the calendar (days past the 28th, years before 1970), goes to Date.parse, so the
 * result is always the same as Date.parse's.
 */
export function parseInstant(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  if (
    text.length === 24 &&
    text.charCodeAt(4) === 45 &&
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 84 &&
    text.charCodeAt(13) === 58 &&
    text.charCodeAt(16) === 58 &&
    text.charCodeAt(19) === 46 &&
    text.charCodeAt(23) === 90
  ) {
    const century = twoDigits(text, 0);
    const yearInCentury = twoDigits(text, 2);
    const month = twoDigits(text, 5);
    const day = twoDigits(text, 8);
    const hour = twoDigits(text, 11);
    const minute = twoDigits(text, 14);
    const second = twoDigits(text, 17);
    const milliHigh = twoDigits(text, 20);
    const milliLow = text.charCodeAt(22) - DIGIT_0;
    const year = century * 100 + yearInCentury;
    if (
      century >= 0 &&
      yearInCentury >= 0 &&
      year >= 1970 &&
      month >= 1 &&
      month <= 12 &&
      day >= 1 &&
      day <= 28 &&
      hour >= 0 &&
      hour <= 23 &&
      minute >= 0 &&
      minute <= 59 &&
      second >= 0 &&
      second <= 59 &&
      milliHigh >= 0 &&
      milliLow >= 0 &&
      milliLow <= 9
    ) {
      return (
        daysSinceEpoch(year, month, day) * 86_400_000 +
        ((hour * 60 + minute) * 60 + second) * 1000 +
        milliHigh * 10 +
        milliLow
      );
    }
  }
  return Date.parse(text);
}
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

/** An unreadable manifest that may be an index: its children are unknown. */
function mayHideChildren(candidate: RetentionCandidate): boolean {
  return (
    !candidate.metadataReadable &&
    (candidate.mediaType === undefined || !SINGLE_MANIFEST_MEDIA_TYPES.has(candidate.mediaType))
  );
}

function lockOf(tag: RetentionTag): string | undefined {
  if (tag.deleteEnabled === false) return "deleteEnabled=false";
  return tag.writeEnabled === false ? "writeEnabled=false" : undefined;
}

function fillManifestState(
  state: ManifestState,
  candidate: RetentionCandidate,
  instants: InstantTable,
): void {
  const index = state.index;
  const pushedMs = parseInstant(candidate.pushedAt);
  const updatedMs = parseInstant(candidate.updatedAt);
  const baseFreshnessMs = Number.isNaN(updatedMs) || updatedMs < pushedMs ? pushedMs : updatedMs;
  let lastActivityMs = baseFreshnessMs;
  let lastActivityText = baseFreshnessMs === pushedMs ? candidate.pushedAt : candidate.updatedAt;
  let tagTimeUnreadable = false;
  // Exactly sized (an array grown by push from empty reserves room for about 16 entries); the usual
  // single tag in an array literal, which the engine allocates as long-lived (see emptyState).
  const count = candidate.tags.length;
  const tags: TagState[] = count === 0 ? NO_TAG_STATES : count === 1 ? [NO_TAG_STATE] : new Array(count);
  for (let position = 0; position < candidate.tags.length; position += 1) {
    const raw = candidate.tags[position] as RetentionTag;
    const timeMs = raw.updatedAt === undefined ? pushedMs : parseInstant(raw.updatedAt);
    if (Number.isNaN(timeMs)) tagTimeUnreadable = true;
    else if (timeMs > lastActivityMs) {
      lastActivityMs = timeMs;
      lastActivityText = raw.updatedAt;
    }
    tags[position] = { name: raw.name, timeMs, lockedBy: lockOf(raw) };
  }
  if (tags.length > 1) tags.sort((left, right) => compareText(left.name, right.name));
  let unreadableWhy: string | undefined;
  if (!candidate.metadataReadable) unreadableWhy = "its manifest could not be read";
  else if (Number.isNaN(pushedMs)) unreadableWhy = "its push time is unknown";
  else if (candidate.updatedAt !== undefined && Number.isNaN(updatedMs))
    unreadableWhy = "its update time is unreadable";
  else if (tagTimeUnreadable) unreadableWhy = "a tag's update time is unreadable";
  const lockedWhy = !candidate.deleteEnabled
    ? "deleteEnabled=false"
    : !candidate.writeEnabled
      ? "writeEnabled=false"
      : undefined;
  const subjects = subjectsOf(candidate.subject, tags);
  instants[index * INSTANTS_PER_MANIFEST + PUSHED] = pushedMs;
  instants[index * INSTANTS_PER_MANIFEST + BASE_FRESHNESS] = baseFreshnessMs;
  instants[index * INSTANTS_PER_MANIFEST + LAST_ACTIVITY] = lastActivityMs;
  state.digest = candidate.digest;
  state.candidate = candidate;
  state.sizeInBytes = candidate.sizeInBytes;
  state.pushedAt = normalizedInstant(candidate.pushedAt, pushedMs);
  state.lastActivityAt = normalizedInstant(lastActivityText, lastActivityMs);
  state.unreadableWhy = unreadableWhy;
  state.lockedWhy = lockedWhy;
  state.originalTags =
    tags.length === 0
      ? NO_TAGS
      : tags.length === 1
        ? [(tags[0] as TagState).name]
        : tags.map((tag) => tag.name);
  state.originalSubjects = subjects;
  state.tags = tags;
  state.subjects = subjects;
}

/** Keeps the input text when it is already in the canonical UTC form, so that strings sort by time. */
function normalizedInstant(text: string | undefined, milliseconds: number): string | null {
  if (Number.isNaN(milliseconds)) return null;
  if (text !== undefined && text.length === 24 && text.endsWith("Z")) return text;
  return new Date(milliseconds).toISOString();
}

function subjectsOf(subjectField: string | undefined, tags: readonly TagState[]): readonly string[] {
  let subjects: string[] | undefined = subjectField ? [subjectField] : undefined;
  for (let position = 0; position < tags.length; position += 1) {
    const tag = tags[position] as TagState;
    if (!tag.name.startsWith("sha256-")) continue;
    const match = COSIGN_REFERRER_TAG.exec(tag.name);
    if (match) {
      subjects ??= [];
      subjects.push(`sha256:${match[1]}`);
    }
  }
  return subjects ?? NO_TAGS;
}

const RADIX_SORT_FROM = 1024;
const RADIX_WINDOW = 12;
const ALPHABET_SAMPLE = 256;

/**
 * Positions of `keys` in the order of their strings by UTF-16 code units (what `<` and
 * `Array.prototype.sort()` use), equal strings in their input order. On large lists of digests
 * this is several times faster than a comparator sort: after the prefix all strings share
 * (`sha256:`), the next few characters are packed with the position into one number, the numbers
 * are sorted natively, and only strings whose packed characters tie are compared whole.
 *
 * `mayEqualPrevious`, when given (as long as `keys`), is set to 1 at every place of the result
 * whose string may equal the one before it, and 0 where it certainly differs: callers looking for
 * duplicates compare only those strings.
 */
export function sortedPositions(keys: readonly string[], mayEqualPrevious?: Uint8Array): number[] {
  const count = keys.length;
  const byKeyThenPosition = (left: number, right: number): number =>
    compareText(keys[left] as string, keys[right] as string) || left - right;
  const positions: number[] = new Array(count);
  for (let position = 0; position < count; position += 1) positions[position] = position;
  const comparatorSort = (): number[] => {
    mayEqualPrevious?.fill(1);
    return positions.sort(byKeyThenPosition);
  };
  if (count < RADIX_SORT_FROM) return comparatorSort();
  const first = keys[0] as string;
  let common = first.length;
  let shared = first;
  for (let position = 0; position < count; position += 1) {
    const key = keys[position] as string;
    // Usually true at once: the shared prefix is found within a few keys and only ever shrinks.
    if (key.startsWith(shared)) continue;
    const limit = Math.min(common, key.length);
    let at = 0;
    while (at < limit && key.charCodeAt(at) === first.charCodeAt(at)) at += 1;
    common = at;
    shared = first.slice(0, common);
  }
  // The characters of the window are ranked densely (rank 0 is "the string has ended", which
  // sorts before every character), so that as many as possible fit in one number. The alphabet is
  // taken from a sample of keys and checked while packing; only a key with a character the sample
  // lacked makes it read every key's window and pack again.
  const seen = new Uint8Array(65_536);
  const rank = new Uint32Array(65_536);
  const packed = new Float64Array(count);
  const markAlphabet = (end: number): void => {
    for (let position = 0; position < end; position += 1) {
      const key = keys[position] as string;
      const stop = Math.min(key.length, common + RADIX_WINDOW);
      for (let at = common; at < stop; at += 1) seen[key.charCodeAt(at)] = 1;
    }
    let symbols = 0;
    for (let code = 0; code < 65_536; code += 1) rank[code] = seen[code] === 1 ? ++symbols : 0;
    alphabetSize = symbols;
  };
  let alphabetSize = 0;
  const indexBits = Math.ceil(Math.log2(count));
  const indexScale = 2 ** indexBits;
  let chars = 0;
  /** Packs every key's window and position into `packed`; false when a character is not ranked. */
  const pack = (): boolean => {
    const bitsPerChar = Math.ceil(Math.log2(alphabetSize + 1));
    // Everything must stay an exact integer in a double (53 bits).
    chars = Math.min(RADIX_WINDOW, Math.floor((53 - indexBits) / bitsPerChar));
    if (chars < 1) return true;
    const base = 2 ** bitsPerChar;
    for (let position = 0; position < count; position += 1) {
      const key = keys[position] as string;
      let window = 0;
      for (let offset = 0; offset < chars; offset += 1) {
        const at = common + offset;
        let symbol = 0;
        if (at < key.length) {
          symbol = rank[key.charCodeAt(at)] as number;
          if (symbol === 0) return false;
        }
        window = window * base + symbol;
      }
      packed[position] = window * indexScale + position;
    }
    return true;
  };
  markAlphabet(Math.min(count, ALPHABET_SAMPLE));
  if (!pack()) {
    markAlphabet(count);
    pack();
  }
  if (chars < 1) return comparatorSort();
  packed.sort();
  let runStart = 0;
  let runWindow = -1;
  for (let slot = 0; slot <= count; slot += 1) {
    const value = slot < count ? (packed[slot] as number) : Number.NaN;
    const window = Math.floor(value / indexScale);
    if (mayEqualPrevious && slot < count) mayEqualPrevious[slot] = window === runWindow ? 1 : 0;
    if (window !== runWindow) {
      if (slot - runStart > 1) {
        const run = positions.slice(runStart, slot).sort(byKeyThenPosition);
        for (let offset = 0; offset < run.length; offset += 1)
          positions[runStart + offset] = run[offset] as number;
      }
      runStart = slot;
      runWindow = window;
    }
    if (slot < count) positions[slot] = value % indexScale;
  }
  return positions;
}

/**
 * Looks manifests up by digest in their digest-sorted list. Each digest's first characters after
 * the prefix all of them share are packed into a number, in an order that agrees with the order
 * of the strings; a binary search over those numbers finds the candidates, and the string decides.
 * Lookups are far fewer than manifests, so this costs less than hashing every digest into a map.
 */
interface DigestIndex {
  readonly sharedPrefix: string;
  readonly keys: Float64Array;
  readonly manifests: readonly ManifestState[];
}

const DIGEST_KEY_CHARS = 5;
const DIGEST_KEY_BASE = 512;

/** Never decreases as the string grows in code-unit order (0 is "ended"; codes past 510 tie). */
function digestKey(digest: string, from: number): number {
  let key = 0;
  for (let offset = 0; offset < DIGEST_KEY_CHARS; offset += 1) {
    const at = from + offset;
    key = key * DIGEST_KEY_BASE + (at < digest.length ? Math.min(digest.charCodeAt(at), 510) + 1 : 0);
  }
  return key;
}

/**
 * The first position in the ascending `keys` whose key is not below `key` (the length when none),
 * searched outwards from `guess` in doubling steps and then by halving: a few probes when the
 * guess is close, never more than about twice a binary search's when it is far.
 */
export function lowerBound(keys: Float64Array, key: number, guess: number): number {
  const count = keys.length;
  // Invariant once set: every key before `low` is below `key`; `high` is `count` or not below it.
  let low: number;
  let high: number;
  if (guess < count && (keys[guess] as number) < key) {
    low = guess + 1;
    high = low;
    for (let step = 1; high < count && (keys[high] as number) < key; step *= 2) {
      low = high + 1;
      high = low + step;
    }
    if (high > count) high = count;
  } else {
    high = Math.min(guess, count);
    low = high;
    for (let step = 1; low > 0 && (keys[low - 1] as number) >= key; step *= 2) {
      high = low - 1;
      low = Math.max(0, high - step);
    }
  }
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((keys[middle] as number) < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

function findByDigest(repo: RepositoryState, digest: string): ManifestState | undefined {
  const index = repo.byDigest;
  if (!index || !digest.startsWith(index.sharedPrefix)) return undefined;
  const key = digestKey(digest, index.sharedPrefix.length);
  const keys = index.keys;
  const count = keys.length;
  if (count === 0) return undefined;
  // Digests are uniformly spread (they are hashes): the key's share of the key range is close to
  // its position, so the search starts there and touches a few neighbouring entries instead of
  // the 17 scattered ones of a binary search over 100,000.
  const lowest = keys[0] as number;
  const span = (keys[count - 1] as number) - lowest;
  const guess = span > 0 ? Math.min(count - 1, Math.max(0, Math.floor(((key - lowest) / span) * count))) : 0;
  for (let at = lowerBound(keys, key, guess); at < count && keys[at] === key; at += 1) {
    const manifest = index.manifests[at] as ManifestState;
    if (manifest.digest === digest) return manifest;
  }
  return undefined;
}

/** The prefix every string of a sorted list shares: the one its first and last share. */
function sharedPrefixLength(first: string, last: string): number {
  const limit = Math.min(first.length, last.length);
  let at = 0;
  while (at < limit && first.charCodeAt(at) === last.charCodeAt(at)) at += 1;
  return at;
}

/**
 * A set of tag names that says when a name comes twice (a listing read while tags moved):
 * open addressing under a hash of the characters, sized once. Several times cheaper than a Set of
 * 100,000 strings, whose hashing and growth cost more than the comparisons.
 */
class TagNameSet {
  private readonly slots: (string | undefined)[];
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.slots = new Array(size);
    this.mask = size - 1;
  }

  /** Adds the name; false when it was already there. */
  add(name: string): boolean {
    // FNV-1a over the UTF-16 code units.
    let hash = 0x811c9dc5;
    for (let at = 0; at < name.length; at += 1) hash = Math.imul(hash ^ name.charCodeAt(at), 0x01000193);
    let slot = hash & this.mask;
    for (;;) {
      const stored = this.slots[slot];
      if (stored === undefined) break;
      if (stored === name) return false;
      slot = (slot + 1) & this.mask;
    }
    this.slots[slot] = name;
    return true;
  }
}

/** Where each listing entry's manifest goes: its number in digest order, duplicates merged. */
interface ManifestNumbering {
  /** By input position: the manifest's number (answers about one digest share it). */
  readonly numberAt: Int32Array;
  readonly manifestCount: number;
  /** By number, where several answers were merged: the merged entry. */
  readonly merged: ReadonlyMap<number, RetentionCandidate> | undefined;
  /** The prefix every digest of the repository shares (`sha256:` and a little more, usually). */
  readonly sharedPrefix: string;
}

/**
 * Numbers the manifests in digest order. The sort is stable, so answers about one manifest from
 * several listings end up next to each other, in input order; only neighbours whose packed
 * characters tie are compared, and equal ones are merged there, without a map of every digest.
 */
function numberByDigest(
  candidates: readonly RetentionCandidate[],
  digests: readonly string[],
): ManifestNumbering {
  const count = digests.length;
  const mayEqualPrevious = new Uint8Array(count);
  const order = sortedPositions(digests, mayEqualPrevious);
  const firstDigest = count > 0 ? (digests[order[0] as number] as string) : "";
  const lastDigest = count > 0 ? (digests[order[count - 1] as number] as string) : "";
  const numberAt = new Int32Array(count);
  let manifestCount = 0;
  let merged: Map<number, RetentionCandidate> | undefined;
  for (let at = 0; at < count; at += 1) {
    const position = order[at] as number;
    const previous = at > 0 ? (order[at - 1] as number) : -1;
    if (previous >= 0 && mayEqualPrevious[at] === 1 && digests[previous] === digests[position]) {
      const number = numberAt[previous] as number;
      numberAt[position] = number;
      merged ??= new Map();
      merged.set(
        number,
        mergeCandidates(
          merged.get(number) ?? (candidates[previous] as RetentionCandidate),
          candidates[position] as RetentionCandidate,
        ),
      );
    } else numberAt[position] = manifestCount++;
  }
  return {
    numberAt,
    manifestCount,
    merged,
    sharedPrefix: firstDigest.slice(0, sharedPrefixLength(firstDigest, lastDigest)),
  };
}

function buildRepositoryStates(
  listings: readonly RepositoryListing[],
  policy: CompiledPolicy,
): RepositoryState[] {
  const grouped = new Map<
    string,
    { registry: string; repository: string; complete: boolean; parts: (readonly RetentionCandidate[])[] }
  >();
  for (const listing of listings) {
    const key = `${listing.registry}\u0000${listing.repository}`;
    let group = grouped.get(key);
    if (!group) {
      group = {
        registry: listing.registry,
        repository: listing.repository,
        complete: true,
        parts: [],
      };
      grouped.set(key, group);
    }
    group.complete &&= listing.listingComplete;
    group.parts.push(listing.manifests);
  }
  const states: RepositoryState[] = [];
  for (const group of grouped.values()) {
    const candidates =
      group.parts.length === 1 ? (group.parts[0] as readonly RetentionCandidate[]) : group.parts.flat();
    const count = candidates.length;
    let hasChildren = false;
    let hasSubjects = false;
    let hidden: ManifestState | undefined;
    let tagConflict = false;
    const digests: string[] = new Array(count);
    let tagCount = 0;
    for (let position = 0; position < count; position += 1) {
      const candidate = candidates[position] as RetentionCandidate;
      digests[position] = candidate.digest;
      tagCount += candidate.tags.length;
    }
    // Every tag name seen so far, to notice one that two manifests carry.
    const tagsSeen = group.complete ? new TagNameSet(tagCount) : undefined;
    const { numberAt, manifestCount, merged, sharedPrefix } = numberByDigest(candidates, digests);
    const shared = sharedPrefix.length;
    // The states are built in input order: reading a large listing where it lies in memory is
    // much faster than reading it in digest order.
    const manifests: ManifestState[] = new Array(manifestCount);
    for (let number = 0; number < manifestCount; number += 1) manifests[number] = emptyState(number);
    const built = new Uint8Array(manifestCount);
    const instants: InstantTable = new Float64Array(manifestCount * INSTANTS_PER_MANIFEST);
    const parentFlags = new Uint8Array(manifestCount);
    const digestKeys = new Float64Array(manifestCount);
    for (let position = 0; position < count; position += 1) {
      const number = numberAt[position] as number;
      if (built[number] === 1) continue;
      built[number] = 1;
      const candidate = merged?.get(number) ?? (candidates[position] as RetentionCandidate);
      digestKeys[number] = digestKey(candidate.digest, shared);
      const manifest = manifests[number] as ManifestState;
      fillManifestState(manifest, candidate, instants);
      if (candidate.children.length > 0) {
        parentFlags[manifest.index] = 1;
        hasChildren = true;
      }
      if (manifest.originalSubjects.length > 0) hasSubjects = true;
      if (mayHideChildren(candidate) && (!hidden || number < hidden.index)) hidden = manifest;
      if (tagsSeen && !tagConflict) {
        const names = manifest.originalTags;
        for (let at = 0; at < names.length; at += 1)
          if (!tagsSeen.add(names[at] as string)) tagConflict = true;
      }
    }
    let partialWhy = group.complete ? undefined : "the repository listing was incomplete";
    // Only when a tag name repeats is the listing walked again, to name the first conflict and both its owners.
    if (tagConflict) {
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
    states.push({
      registry: group.registry,
      repository: group.repository,
      listingComplete: group.complete,
      partialWhy,
      unknownGraphWhy: hidden
        ? `${shortDigest(hidden.digest)} in this repository could not be read and may be an index whose children are unknown`
        : undefined,
      manifests,
      instants,
      byDigest:
        hasChildren || hasSubjects
          ? {
              sharedPrefix,
              keys: digestKeys,
              manifests,
            }
          : undefined,
      hasChildren,
      parentFlags,
      rules: policy.rules.filter((rule) => rule.appliesToRepository(group.repository)),
      tagCount,
    });
  }
  return states.sort(
    (left, right) =>
      compareText(left.registry, right.registry) || compareText(left.repository, right.repository),
  );
}

// ---------------------------------------------------------------------------------------------
// Rule evaluation (one pass over the current state of one repository)

/**
 * The manifest's current tags that the rule's tag condition matches (all of them without one).
 * Returns a shared empty array when nothing matches: most manifests match most patterns not at all.
 */
function matchingTags(rule: CompiledRule, manifest: ManifestState): readonly string[] {
  const matcher = rule.tagMatcher;
  const tags = manifest.tags;
  let result: string[] | undefined;
  for (let position = 0; position < tags.length; position += 1) {
    const name = (tags[position] as TagState).name;
    if (matcher && !matcher(name)) continue;
    result ??= [];
    result.push(name);
  }
  return result ?? NO_TAGS;
}

/** Whether the rule's tag condition matches one of the manifest's current tags (any tag without one). */
function hasMatchingTag(rule: CompiledRule, manifest: ManifestState): boolean {
  const matcher = rule.tagMatcher;
  const tags = manifest.tags;
  if (!matcher) return tags.length > 0;
  for (let position = 0; position < tags.length; position += 1)
    if (matcher((tags[position] as TagState).name)) return true;
  return false;
}

const isRankable = (manifest: ManifestState): boolean =>
  manifest.alive && manifest.unreadableWhy === undefined && manifest.subjects.length === 0;

/** The highest semantic version among the manifest's current tags that the rule's tag condition matches. */
function highestMatchingVersion(rule: CompiledRule, manifest: ManifestState): SemanticVersion | undefined {
  const matcher = rule.tagMatcher;
  const tags = manifest.tags;
  let best: SemanticVersion | undefined;
  for (let position = 0; position < tags.length; position += 1) {
    const name = (tags[position] as TagState).name;
    if (matcher && !matcher(name)) continue;
    const version = parseSemanticVersion(name);
    if (version && (!best || compareSemanticVersions(version, best) > 0)) best = version;
  }
  return best;
}

/**
 * The population a count condition ranks, and its top `count`. Members not in `top` are "beyond".
 * Manifests outside the population match neither `mostRecent` nor `beyondMostRecent`.
 */
// Status 0: not in the population.
const WITHIN_COUNT = 1;
const BEYOND_COUNT = 2;

/**
 * Ranks a count condition's population. Returns, by manifest index, 0 (not in the population),
 * WITHIN_COUNT (one of the top `count`) or BEYOND_COUNT. Counts are usually small, so the top is
 * then kept in a small sorted array while scanning instead of sorting the whole population.
 */
function rankPopulation(rule: CompiledRule, repo: RepositoryState): Uint8Array {
  const manifests = repo.manifests;
  const instants = repo.instants;
  const status = new Uint8Array(manifests.length);
  const rank = rule.rank;
  if (!rank) return status;
  const bySemver = rank.orderBy === "semver";
  const versions: (SemanticVersion | undefined)[] = bySemver ? new Array(manifests.length) : [];
  // Negative when `left` ranks before `right`: higher version, then later push, then smaller digest
  // (manifests are sorted by digest, so a smaller index is the smaller digest).
  const compare = (left: number, right: number): number => {
    if (bySemver) {
      const byVersion = compareSemanticVersions(
        versions[right] as SemanticVersion,
        versions[left] as SemanticVersion,
      );
      if (byVersion !== 0) return byVersion;
    }
    return (
      (instants[right * INSTANTS_PER_MANIFEST + PUSHED] as number) -
        (instants[left * INSTANTS_PER_MANIFEST + PUSHED] as number) || left - right
    );
  };
  const members: number[] = [];
  for (let index = 0; index < manifests.length; index += 1) {
    const manifest = manifests[index] as ManifestState;
    if (!isRankable(manifest)) continue;
    if (rule.targetsUntagged) {
      if (manifest.tags.length > 0) continue;
    } else {
      if (manifest.tags.length === 0) continue;
      if (bySemver) {
        const version = highestMatchingVersion(rule, manifest);
        if (!version) continue;
        versions[index] = version;
      } else if (!hasMatchingTag(rule, manifest)) continue;
    }
    status[index] = BEYOND_COUNT;
    members.push(index);
  }
  let top: number[];
  if (members.length <= rank.count) {
    top = members;
  } else if (rank.count > 256) {
    top = members.sort(compare).slice(0, rank.count);
  } else {
    top = [];
    for (const index of members) {
      if (top.length === rank.count && compare(index, top[top.length - 1] as number) > 0) continue;
      let position = top.length;
      while (position > 0 && compare(index, top[position - 1] as number) < 0) position -= 1;
      top.splice(position, 0, index);
      if (top.length > rank.count) top.pop();
    }
  }
  for (const index of top) status[index] = WITHIN_COUNT;
  return status;
}

/**
 * What the rules said about the tagged manifest being proposed for, in rule order: keep rules with
 * the tags they protect, delete rules with the tags they remove. One instance serves a whole pass,
 * cleared for each manifest, so that matching allocates nothing but lists of tags; reasons are
 * written only for the final decision.
 */
class RuleMatches {
  readonly keepRules: CompiledRule[] = [];
  readonly keepTags: (readonly string[])[] = [];
  keepCount = 0;
  readonly deleteRules: CompiledRule[] = [];
  readonly deleteTags: (readonly string[])[] = [];
  deleteCount = 0;

  clear(): void {
    this.keepCount = 0;
    this.deleteCount = 0;
  }

  addKeep(rule: CompiledRule, tags: readonly string[]): void {
    this.keepRules[this.keepCount] = rule;
    this.keepTags[this.keepCount] = tags;
    this.keepCount += 1;
  }

  addDelete(rule: CompiledRule, tags: readonly string[]): void {
    this.deleteRules[this.deleteCount] = rule;
    this.deleteTags[this.deleteCount] = tags;
    this.deleteCount += 1;
  }

  /** The first delete match that removes the tag, or -1. */
  deleteMatchFor(tag: string): number {
    for (let match = 0; match < this.deleteCount; match += 1)
      if ((this.deleteTags[match] as readonly string[]).includes(tag)) return match;
    return -1;
  }

  isKeptTag(tag: string): boolean {
    for (let match = 0; match < this.keepCount; match += 1)
      if ((this.keepTags[match] as readonly string[]).includes(tag)) return true;
    return false;
  }

  describeDelete(match: number): string {
    return describeDelete(
      this.deleteRules[match] as CompiledRule,
      this.deleteTags[match] as readonly string[],
    );
  }
}

/** A rule in scope of one repository, with its count condition ranked once per pass. */
interface RankedRule {
  readonly rule: CompiledRule;
  /** By manifest index: 0, WITHIN_COUNT or BEYOND_COUNT; undefined for rules without a count. */
  readonly ranking: Uint8Array | undefined;
}

function rankRules(repo: RepositoryState): RankedRule[] {
  return repo.rules.map((rule) => ({
    rule,
    ranking: rule.rank ? rankPopulation(rule, repo) : undefined,
  }));
}

/** Whether a keep rule's freshness condition holds (true without one). */
function isFreshEnough(
  rule: CompiledRule,
  manifest: ManifestState,
  matching: readonly string[] | undefined,
  baseFreshnessMs: number,
  nowMs: number,
): boolean {
  if (rule.newerThanMs === undefined) return true;
  let freshness = baseFreshnessMs;
  const tags = manifest.tags;
  for (let position = 0; position < tags.length; position += 1) {
    const tag = tags[position] as TagState;
    if ((!matching || matching.includes(tag.name)) && !(tag.timeMs <= freshness)) freshness = tag.timeMs;
  }
  return !Number.isNaN(freshness) && nowMs - freshness < rule.newerThanMs;
}

function isDoomedTag(rule: CompiledRule, tag: TagState, nowMs: number): boolean {
  if (rule.taggedOlderThanMs !== undefined && !(nowMs - tag.timeMs > rule.taggedOlderThanMs)) return false;
  return !rule.tagMatcher || rule.tagMatcher(tag.name);
}

/**
 * The current tags a tag-targeting delete rule removes, or undefined. When it removes every tag and
 * no earlier pass removed any, the manifest's own list of original tags is returned (not copied).
 */
function doomedTags(
  rule: CompiledRule,
  manifest: ManifestState,
  nowMs: number,
): readonly string[] | undefined {
  const tags = manifest.tags;
  let count = 0;
  for (let position = 0; position < tags.length; position += 1)
    if (isDoomedTag(rule, tags[position] as TagState, nowMs)) count += 1;
  if (count === 0) return undefined;
  if (count === tags.length && tags.length === manifest.originalTags.length) return manifest.originalTags;
  const doomed: string[] = [];
  for (let position = 0; position < tags.length; position += 1) {
    const tag = tags[position] as TagState;
    if (isDoomedTag(rule, tag, nowMs)) doomed.push(tag.name);
  }
  return doomed;
}

/**
 * Records in `matches` what every rule says about one alive tagged manifest, in rule order. A keep
 * rule without a tag condition protects the whole manifest, whatever else matches: the first such
 * rule is returned instead, and the matches are then incomplete.
 */
function matchTaggedRules(
  ranked: readonly RankedRule[],
  manifest: ManifestState,
  baseFreshnessMs: number,
  nowMs: number,
  matches: RuleMatches,
): CompiledRule | undefined {
  matches.clear();
  const index = manifest.index;
  for (let position = 0; position < ranked.length; position += 1) {
    const { rule, ranking } = ranked[position] as RankedRule;
    if (rule.kind === "keep") {
      if (ranking && ranking[index] !== WITHIN_COUNT) continue;
      const matching = rule.tagMatcher ? matchingTags(rule, manifest) : undefined;
      if (matching && matching.length === 0) continue;
      if (!isFreshEnough(rule, manifest, matching, baseFreshnessMs, nowMs)) continue;
      if (!matching) return rule;
      matches.addKeep(rule, matching);
      continue;
    }
    if (rule.targetsUntagged) continue;
    if (ranking && ranking[index] !== BEYOND_COUNT) continue;
    const doomed = doomedTags(rule, manifest, nowMs);
    if (doomed) matches.addDelete(rule, doomed);
  }
  return undefined;
}

function describeRank(rule: CompiledRule, within: boolean): string {
  const rank = rule.rank;
  if (!rank) return "";
  const what = rank.orderBy === "semver" ? "highest versions" : "most recently pushed";
  return within ? `one of the ${rank.count} ${what}` : `beyond the ${rank.count} ${what}`;
}

function describeTags(tags: readonly string[], verb: [string, string]): string {
  return `${tags.length === 1 ? "tag" : "tags"} ${quoteList(tags)} ${tags.length === 1 ? verb[0] : verb[1]}`;
}

/** Why a keep rule keeps a manifest: the tags it protects, or undefined when it protects all of it. */
function describeKeep(rule: CompiledRule, tags: readonly string[] | undefined): string {
  const parts: string[] = [];
  if (tags) parts.push(`${describeTags(tags, ["matches", "match"])} ${rule.tagPatternText}`);
  if (rule.rank) parts.push(describeRank(rule, true));
  if (rule.newerThanMs !== undefined) parts.push(`pushed or updated within ${rule.durationText.newerThan}`);
  return `kept by rule "${rule.id}": ${parts.join(", ")}`;
}

/**
 * The description of a delete rule's match, as text around the list of tags it removes: built once
 * per rule, so that describing one of tens of thousands of deletes joins three strings.
 */
interface DeleteDescription {
  /** The whole description, for rules whose description does not name the tags. */
  readonly fixed: string | undefined;
  /** Up to the list of tags, for one tag and for several. */
  readonly headOne: string;
  readonly headMany: string;
  /** After the list of tags, for one tag and for several. */
  readonly tailOne: string;
  readonly tailMany: string;
}

function buildDeleteDescription(rule: CompiledRule): DeleteDescription {
  const before: string[] = [];
  const after: string[] = [];
  let verbs: [string, string] | undefined;
  let afterVerb = "";
  const addPart = (part: string) => (verbs ? after : before).push(part);
  if (rule.targetsUntagged)
    addPart(`untagged with no activity for more than ${rule.durationText.untaggedOlderThan}`);
  if (rule.tagMatcher) {
    verbs = ["matches", "match"];
    afterVerb = ` ${rule.tagPatternText}`;
  }
  if (rule.taggedOlderThanMs !== undefined) {
    const olderThan = `last pushed more than ${rule.durationText.taggedOlderThan} ago`;
    if (verbs) addPart(olderThan);
    else {
      verbs = ["was", "were"];
      afterVerb = ` ${olderThan}`;
    }
  }
  if (rule.rank) addPart(describeRank(rule, false));
  const lead = `rule "${rule.id}": `;
  if (!verbs && before.length > 0) {
    return { fixed: `${lead}${before.join(", ")}`, headOne: "", headMany: "", tailOne: "", tailMany: "" };
  }
  // A rule with no condition at all names the tags it removes and nothing else.
  const [one, many] = verbs ?? ["is", "are"];
  const head = `${lead}${before.map((part) => `${part}, `).join("")}`;
  const rest = `${afterVerb}${after.map((part) => `, ${part}`).join("")}`;
  return {
    fixed: undefined,
    headOne: `${head}tag `,
    headMany: `${head}tags `,
    tailOne: ` ${one}${rest}`,
    tailMany: ` ${many}${rest}`,
  };
}

const deleteDescriptions = new WeakMap<CompiledRule, DeleteDescription>();
function deleteDescriptionOf(rule: CompiledRule): DeleteDescription {
  let description = deleteDescriptions.get(rule);
  if (!description) {
    description = buildDeleteDescription(rule);
    deleteDescriptions.set(rule, description);
  }
  return description;
}

function describeDelete(rule: CompiledRule, tags: readonly string[]): string {
  const description = deleteDescriptionOf(rule);
  if (description.fixed !== undefined) return description.fixed;
  return tags.length === 1
    ? description.headOne + (tags[0] as string) + description.tailOne
    : description.headMany + quoteList(tags) + description.tailMany;
}

function describeManifest(repo: RepositoryState, manifest: ManifestState): string {
  const tags = manifest.tags.map((tag) => `${repo.repository}:${tag.name}`);
  return `${shortDigest(manifest.digest)} (${tags.length > 0 ? tags.join(", ") : "untagged"})`;
}

function keepProposal(ruleId: string | null, guard: RetentionGuard | null, reason: string): Proposal {
  return { action: "keep", tags: [], ruleId, guard, reason, pass: 0, previous: undefined };
}

const NO_RULE: Proposal = Object.freeze(keepProposal(null, null, "no rule matched"));
const NO_RULE_UNTAGGED: Proposal = Object.freeze(keepProposal(null, null, "untagged; no rule matched"));

/**
 * A keep of the whole manifest reads the same for every manifest the rule keeps: one shared
 * (frozen, never mutated) proposal per rule instead of one object and reason per manifest.
 */
const wholeKeepProposals = new WeakMap<CompiledRule, Proposal>();
function wholeKeepProposal(rule: CompiledRule): Proposal {
  let proposal = wholeKeepProposals.get(rule);
  if (!proposal) {
    proposal = Object.freeze(keepProposal(rule.id, null, describeKeep(rule, undefined)));
    wholeKeepProposals.set(rule, proposal);
  }
  return proposal;
}

/** The reason of a delete by a rule on untagged manifests depends on the rule alone. */
const untaggedDeleteReasons = new WeakMap<CompiledRule, string>();
function untaggedDeleteReason(rule: CompiledRule): string {
  let reason = untaggedDeleteReasons.get(rule);
  if (reason === undefined) {
    reason = `deleted by ${describeDelete(rule, NO_TAGS)}`;
    untaggedDeleteReasons.set(rule, reason);
  }
  return reason;
}

function blockedBy(proposal: Proposal, guard: RetentionGuard, why: string): Proposal {
  const verb = proposal.action === "delete" ? "deleted" : "untagged";
  return keepProposal(proposal.ruleId, guard, `${why}; would have been ${verb} by rule "${proposal.ruleId}"`);
}

/** What the rules propose for an alive untagged manifest, before the manifest's own guards. */
function proposeForUntagged(
  ranked: readonly RankedRule[],
  manifest: ManifestState,
  baseFreshnessMs: number,
  nowMs: number,
): Proposal {
  const index = manifest.index;
  let deleteRule: CompiledRule | undefined;
  for (let position = 0; position < ranked.length; position += 1) {
    const { rule, ranking } = ranked[position] as RankedRule;
    if (rule.kind === "keep") {
      // A tag condition matches no tag here, and count conditions rank tagged manifests only.
      if (rule.tagMatcher || (ranking && ranking[index] !== WITHIN_COUNT)) continue;
      if (!isFreshEnough(rule, manifest, undefined, baseFreshnessMs, nowMs)) continue;
      return wholeKeepProposal(rule);
    }
    if (deleteRule || !rule.targetsUntagged) continue;
    if (ranking && ranking[index] !== BEYOND_COUNT) continue;
    if (!(nowMs - baseFreshnessMs > (rule.untaggedOlderThanMs ?? 0))) continue;
    deleteRule = rule;
  }
  if (!deleteRule) return NO_RULE_UNTAGGED;
  return {
    action: "delete",
    // Read only (a delete's decision lists the manifest's own tags): one shared empty list.
    tags: NO_TAGS as string[],
    ruleId: deleteRule.id,
    guard: null,
    reason: untaggedDeleteReason(deleteRule),
    pass: 0,
    previous: undefined,
  };
}

/** A tag that a delete rule would remove but a guard on the tag protects. */
interface TagGuard {
  readonly guard: RetentionGuard;
  /** The delete match (in the manifest's RuleMatches) the guard stopped. */
  readonly match: number;
  readonly why: string;
}

/** The guard protecting one tag that a delete rule matched and no keep rule kept, if any. */
function tagGuardOf(tag: TagState, match: number, protectLatest: boolean): TagGuard | undefined {
  if (protectLatest && tag.name === "latest")
    return { guard: "latest-tag", match, why: "the tag latest is protected (protectLatest)" };
  if (tag.lockedBy) return { guard: "locked", match, why: `tag ${tag.name} is locked (${tag.lockedBy})` };
  return undefined;
}

const isGuardedTag = (tag: TagState, protectLatest: boolean): boolean =>
  (protectLatest && tag.name === "latest") || tag.lockedBy !== undefined;

/** What the rules propose for an alive tagged manifest, before the manifest's own guards. */
function proposeForTagged(
  ranked: readonly RankedRule[],
  manifest: ManifestState,
  baseFreshnessMs: number,
  nowMs: number,
  protectLatest: boolean,
  matches: RuleMatches,
): Proposal {
  const wholeKeep = matchTaggedRules(ranked, manifest, baseFreshnessMs, nowMs, matches);
  if (wholeKeep) return wholeKeepProposal(wholeKeep);
  if (matches.keepCount === 0 && matches.deleteCount === 0) return NO_RULE;
  const tags = manifest.tags;
  // Lists are created on first use: most manifests need none of them.
  let removableCount = 0;
  let overriddenByKeep: string[] | undefined;
  let firstRule = -1;
  let laterRules: number[] | undefined;
  let tagGuard: TagGuard | undefined;
  for (let position = 0; position < tags.length; position += 1) {
    const tag = tags[position] as TagState;
    const match = matches.deleteMatchFor(tag.name);
    if (match < 0) continue;
    if (matches.isKeptTag(tag.name)) {
      overriddenByKeep ??= [];
      overriddenByKeep.push(tag.name);
    } else if (isGuardedTag(tag, protectLatest)) {
      tagGuard ??= tagGuardOf(tag, match, protectLatest);
    } else {
      removableCount += 1;
      if (firstRule < 0) firstRule = match;
      else if (match !== firstRule && !laterRules?.includes(match)) {
        laterRules ??= [];
        laterRules.push(match);
      }
    }
  }
  if (firstRule < 0) {
    if (tagGuard) {
      return keepProposal(
        (matches.deleteRules[tagGuard.match] as CompiledRule).id,
        tagGuard.guard,
        `${tagGuard.why}; would have acted on ${matches.describeDelete(tagGuard.match)}`,
      );
    }
    if (matches.keepCount > 0) {
      const suffix =
        overriddenByKeep !== undefined ? ` (keep beats delete for ${quoteList(overriddenByKeep)})` : "";
      const keepRule = matches.keepRules[0] as CompiledRule;
      return keepProposal(keepRule.id, null, `${describeKeep(keepRule, matches.keepTags[0])}${suffix}`);
    }
    return NO_RULE;
  }
  const ruleId = (matches.deleteRules[firstRule] as CompiledRule).id;
  const why = laterRules
    ? [firstRule, ...laterRules].map((match) => matches.describeDelete(match)).join("; ")
    : matches.describeDelete(firstRule);
  if (removableCount === tags.length) {
    return {
      action: "delete",
      tags:
        tags.length === manifest.originalTags.length
          ? (manifest.originalTags as string[])
          : tags.map((tag) => tag.name),
      ruleId,
      guard: null,
      reason: `deleted by ${why}`,
      pass: 0,
      previous: undefined,
    };
  }
  const removed: string[] = [];
  const staying: string[] = [];
  for (let position = 0; position < tags.length; position += 1) {
    const tag = tags[position] as TagState;
    const removable =
      matches.deleteMatchFor(tag.name) >= 0 &&
      !matches.isKeptTag(tag.name) &&
      !isGuardedTag(tag, protectLatest);
    (removable ? removed : staying).push(tag.name);
  }
  const stayWhy =
    matches.keepCount > 0
      ? ` (${describeKeep(matches.keepRules[0] as CompiledRule, matches.keepTags[0])})`
      : tagGuard
        ? ` (${tagGuard.why})`
        : "";
  return {
    action: "untag",
    tags: removed,
    ruleId,
    guard: null,
    reason: `untagged by ${why}; ${quoteList(staying)} ${staying.length === 1 ? "stays" : "stay"}${stayWhy}`,
    pass: 0,
    previous: undefined,
  };
}

/**
 * The proposal for one alive manifest: what the rules say, then the guards that depend only on
 * the repository and the manifest itself.
 */
function proposeForManifest(
  repo: RepositoryState,
  manifest: ManifestState,
  ranked: readonly RankedRule[],
  nowMs: number,
  protectLatest: boolean,
  matches: RuleMatches,
): Proposal {
  if (ranked.length === 0) return manifest.tags.length > 0 ? NO_RULE : NO_RULE_UNTAGGED;
  const baseFreshnessMs = repo.instants[manifest.index * INSTANTS_PER_MANIFEST + BASE_FRESHNESS] as number;
  const proposal =
    manifest.tags.length === 0
      ? proposeForUntagged(ranked, manifest, baseFreshnessMs, nowMs)
      : proposeForTagged(ranked, manifest, baseFreshnessMs, nowMs, protectLatest, matches);
  if (proposal.action === "keep") return proposal;
  if (repo.partialWhy) {
    return blockedBy(
      proposal,
      "partial-listing",
      `nothing is decided from a partial listing: ${repo.partialWhy}`,
    );
  }
  if (manifest.unreadableWhy) {
    return blockedBy(proposal, "metadata-unreadable", `kept because ${manifest.unreadableWhy} (fail closed)`);
  }
  if (manifest.lockedWhy) return blockedBy(proposal, "locked", `manifest is locked (${manifest.lockedWhy})`);
  if (proposal.action === "delete" && repo.unknownGraphWhy) {
    return blockedBy(
      proposal,
      "metadata-unreadable",
      `nothing is deleted here because ${repo.unknownGraphWhy}`,
    );
  }
  return proposal;
}

/** Children of surviving indexes and referrers of surviving subjects survive too (recursively). */
function protectGraph(repo: RepositoryState): void {
  // Alive referrers by the number of their subject; a subject that is not in this repository
  // protects nothing here. Referrers are few, manifests many.
  const referrersOf = new Map<number, ManifestState[]>();
  const manifests = repo.manifests;
  for (let index = 0; index < manifests.length; index += 1) {
    const manifest = manifests[index] as ManifestState;
    if (!manifest.alive) continue;
    const subjects = manifest.subjects;
    for (let position = 0; position < subjects.length; position += 1) {
      const target = findByDigest(repo, subjects[position] as string);
      if (!target) continue;
      const list = referrersOf.get(target.index);
      if (list) list.push(manifest);
      else referrersOf.set(target.index, [manifest]);
    }
  }
  if (referrersOf.size === 0 && !repo.hasChildren) return;
  // Indexes (fixed) and subjects of current referrers; flags by number, so that the scan below
  // does not touch every manifest's state.
  const protectsOthers = repo.parentFlags.slice();
  for (const subject of referrersOf.keys()) protectsOthers[subject] = 1;
  const visited = new Uint8Array(repo.manifests.length);
  const queue: ManifestState[] = [];
  for (let index = 0; index < protectsOthers.length; index += 1) {
    if (protectsOthers[index] !== 1) continue;
    const manifest = repo.manifests[index] as ManifestState;
    if (manifest.alive && manifest.proposal?.action !== "delete") queue.push(manifest);
  }
  while (queue.length > 0) {
    const survivor = queue.pop() as ManifestState;
    if (visited[survivor.index] === 1) continue;
    visited[survivor.index] = 1;
    const children = survivor.candidate.children;
    for (let position = 0; position < children.length; position += 1) {
      const child = findByDigest(repo, children[position] as string);
      const proposal = child?.alive ? child.proposal : undefined;
      if (!child || !proposal || proposal.action !== "delete") continue;
      child.proposal = keepProposal(
        proposal.ruleId,
        "index-child",
        `platform child of kept index ${describeManifest(repo, survivor)}; would have been deleted by rule "${proposal.ruleId}"`,
      );
      queue.push(child);
    }
    const referrers = referrersOf.size > 0 ? referrersOf.get(survivor.index) : undefined;
    for (let position = 0; referrers !== undefined && position < referrers.length; position += 1) {
      const referrer = referrers[position] as ManifestState;
      const proposal = referrer.proposal;
      if (!proposal || proposal.action === "keep") continue;
      referrer.proposal = keepProposal(
        proposal.ruleId,
        "referrer-subject",
        `refers to ${describeManifest(repo, survivor)}, which is kept; would have been ${proposal.action === "delete" ? "deleted" : "untagged"} by rule "${proposal.ruleId}"`,
      );
      queue.push(referrer);
    }
  }
}

/**
 * Evaluates rules and guards, applies the result to the repository state, and repeats while a
 * pass removed tags. A pass that only deletes manifests cannot make another rule match (ranks only
 * improve, guards only depend on survivors), so it needs no further pass.
 */
function planRepositoryPasses(repo: RepositoryState, policy: CompiledPolicy, nowMs: number): void {
  const maxPasses = repo.tagCount + 1;
  for (let pass = 1; pass <= maxPasses; pass += 1) {
    const ranked = rankRules(repo);
    const matches = new RuleMatches();
    const manifests = repo.manifests;
    for (let index = 0; index < manifests.length; index += 1) {
      const manifest = manifests[index] as ManifestState;
      if (!manifest.alive) continue;
      manifest.proposal = proposeForManifest(repo, manifest, ranked, nowMs, policy.protectLatest, matches);
    }
    protectGraph(repo);
    let untagged = false;
    for (let index = 0; index < manifests.length; index += 1) {
      const manifest = manifests[index] as ManifestState;
      const proposal = manifest.proposal;
      if (!manifest.alive || !proposal || proposal.action === "keep") continue;
      proposal.pass = pass;
      proposal.previous = manifest.lastAction;
      manifest.lastAction = proposal as ActionRecord;
      if (proposal.action === "delete") {
        manifest.alive = false;
      } else {
        untagged = true;
        manifest.tags = manifest.tags.filter((tag) => !proposal.tags.includes(tag.name));
        manifest.subjects = subjectsOf(manifest.candidate.subject, manifest.tags);
      }
    }
    if (!untagged) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions, caps and totals

interface WorkingDecision {
  readonly repo: RepositoryState;
  readonly repoOrder: number;
  readonly manifest: ManifestState;
  decision: RetentionDecision;
}

/** Builds a decision; one constructor keeps every decision object the same shape. */
function makeDecision(
  manifest: ManifestState,
  action: RetentionDecision["action"],
  tags: string[],
  ruleId: string | null,
  guard: RetentionGuard | null,
  reason: string,
  pass: number,
): RetentionDecision {
  return {
    digest: manifest.digest,
    action,
    tags,
    ruleId,
    guard,
    reason,
    sizeInBytes: manifest.sizeInBytes,
    pushedAt: manifest.pushedAt,
    lastActivityAt: manifest.lastActivityAt,
    pass,
  };
}

function initialDecision(manifest: ManifestState): RetentionDecision {
  const final = manifest.lastAction;
  if (!final) {
    const last = manifest.proposal;
    return makeDecision(
      manifest,
      "keep",
      [],
      last?.ruleId ?? null,
      last?.guard ?? null,
      last?.reason ?? "no rule matched",
      0,
    );
  }
  if (final.action === "delete") {
    // Every action before a delete is an untag (nothing happens to a deleted manifest).
    const earlier = final.previous
      ? ` (after an earlier pass removed ${quoteList(
          actionsOf(manifest)
            .slice(0, -1)
            .flatMap((untag) => untag.tags),
        )})`
      : "";
    return makeDecision(
      manifest,
      "delete",
      // Made for this manifest and never changed afterwards (proposals share it, read-only): the plan can own it.
      manifest.originalTags === NO_TAGS ? [] : (manifest.originalTags as string[]),
      final.ruleId,
      null,
      earlier === "" ? final.reason : `${final.reason}${earlier}`,
      final.pass,
    );
  }
  const untags = actionsOf(manifest);
  return makeDecision(
    manifest,
    "untag",
    untags.flatMap((untag) => untag.tags).sort(compareText),
    untags[0]?.ruleId ?? null,
    null,
    untags.map((untag) => untag.reason).join("; then "),
    final.pass,
  );
}

function holdBack(work: WorkingDecision, guard: RetentionGuard, why: string): void {
  const original = work.decision;
  const verb = original.action === "delete" ? "deleted" : `untagged (${quoteList(original.tags)})`;
  work.decision = makeDecision(
    work.manifest,
    "keep",
    [],
    original.ruleId,
    guard,
    `${why}; would have been ${verb} by rule "${original.ruleId}": ${original.reason}`,
    0,
  );
}

interface CapEntry {
  readonly pass: number;
  readonly activityMs: number;
  readonly repoOrder: number;
  readonly digest: string;
  readonly work: WorkingDecision;
}

/** Oldest first, earlier passes before later ones; then by registry, repository and digest. */
function capOrder(left: CapEntry, right: CapEntry): number {
  return (
    left.pass - right.pass ||
    left.activityMs - right.activityMs ||
    left.repoOrder - right.repoOrder ||
    compareText(left.digest, right.digest)
  );
}

/**
 * Applies the caps, oldest action first (earlier passes before later ones), then restores the
 * invariants the held-back actions touch: children and referrers of what now survives, and
 * actions of later passes that assumed the held-back ones.
 */
function applyCaps(byRepository: Map<RepositoryState, WorkingDecision[]>, caps: RetentionCaps): void {
  const toEntry = (work: WorkingDecision): CapEntry => ({
    pass: work.decision.pass,
    activityMs: work.repo.instants[work.manifest.index * INSTANTS_PER_MANIFEST + LAST_ACTIVITY] as number,
    repoOrder: work.repoOrder,
    digest: work.manifest.digest,
    work,
  });
  const heldByCap = new Map<WorkingDecision, string>();
  const withinRepositoryCaps: WorkingDecision[] = [];
  for (const list of byRepository.values()) {
    const actions = list.filter((work) => work.decision.action !== "keep");
    if (actions.length <= caps.perRepository) {
      for (const work of actions) withinRepositoryCaps.push(work);
      continue;
    }
    actions
      .map(toEntry)
      .sort(capOrder)
      .forEach((entry, position) => {
        if (position < caps.perRepository) withinRepositoryCaps.push(entry.work);
        else heldByCap.set(entry.work, `${caps.perRepository} per repository`);
      });
  }
  if (withinRepositoryCaps.length > caps.global) {
    withinRepositoryCaps
      .map(toEntry)
      .sort(capOrder)
      .forEach((entry, position) => {
        if (position >= caps.global) heldByCap.set(entry.work, `${caps.global} per run`);
      });
  }
  const affected = new Set<RepositoryState>();
  for (const [work, which] of heldByCap) {
    holdBack(work, "deletion-cap", `the cap of ${which} destructive actions was reached`);
    affected.add(work.repo);
  }
  for (const repo of affected) restoreInvariantsAfterHoldBack(repo, byRepository.get(repo) ?? []);
}

/** Whether applying the caps would hold anything back: more actions in one repository or in all than allowed. */
function capReached(totalsByRepository: readonly RetentionTotals[], caps: RetentionCaps): boolean {
  let actions = 0;
  for (const totals of totalsByRepository) {
    const inRepository = totals.delete + totals.untag;
    if (inRepository > caps.perRepository) return true;
    actions += inRepository;
  }
  return actions > caps.global;
}

/** Repeats until stable: later passes wait for held-back earlier ones; survivors keep children and referrers. */
function restoreInvariantsAfterHoldBack(repo: RepositoryState, list: WorkingDecision[]): void {
  const byDigest = new Map(list.map((work) => [work.manifest.digest, work]));
  const referrersBySubject = new Map<string, WorkingDecision[]>();
  for (const work of list) {
    for (const subject of work.manifest.originalSubjects) {
      const referrers = referrersBySubject.get(subject);
      if (referrers) referrers.push(work);
      else referrersBySubject.set(subject, [work]);
    }
  }
  const heldPass = (work: WorkingDecision) =>
    Math.min(...actionsOf(work.manifest).map((action) => action.pass));
  for (;;) {
    let changed = false;
    let earliestHeld = Number.POSITIVE_INFINITY;
    for (const work of list) {
      if (work.decision.action === "keep" && work.manifest.lastAction !== undefined) {
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
  // Plain local counters: one add each, no property looked up by name per decision.
  let deletes = 0;
  let untags = 0;
  let tagsRemoved = 0;
  let bytesReclaimable = 0;
  let guarded = 0;
  for (let position = 0; position < decisions.length; position += 1) {
    const decision = decisions[position] as RetentionDecision;
    if (decision.action === "delete") {
      deletes += 1;
      tagsRemoved += decision.tags.length;
      bytesReclaimable += decision.sizeInBytes;
    } else if (decision.action === "untag") {
      untags += 1;
      tagsRemoved += decision.tags.length;
    }
    if (decision.guard !== null) guarded += 1;
  }
  return {
    manifests: decisions.length,
    keep: decisions.length - deletes - untags,
    delete: deletes,
    untag: untags,
    tagsRemoved,
    bytesReclaimable,
    guarded,
  };
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
  const decisionsByRepository = repositories.map((repo) => {
    planRepositoryPasses(repo, compiled, nowMs);
    return repo.manifests.map(initialDecision);
  });
  let totalsByRepository = decisionsByRepository.map(totalsOf);
  // The working records the caps need exist only when a cap is reached: usually none is.
  if (capReached(totalsByRepository, options.caps)) {
    const byRepository = new Map<RepositoryState, WorkingDecision[]>();
    repositories.forEach((repo, repoOrder) => {
      const decisions = decisionsByRepository[repoOrder] as RetentionDecision[];
      byRepository.set(
        repo,
        repo.manifests.map((manifest, position) => ({
          repo,
          repoOrder,
          manifest,
          decision: decisions[position] as RetentionDecision,
        })),
      );
    });
    applyCaps(byRepository, options.caps);
    repositories.forEach((repo, repoOrder) => {
      decisionsByRepository[repoOrder] = (byRepository.get(repo) ?? []).map((work) => work.decision);
    });
    totalsByRepository = decisionsByRepository.map(totalsOf);
  }
  const repositoryPlans: RepositoryPlan[] = repositories.map((repo, repoOrder) => ({
    registry: repo.registry,
    repository: repo.repository,
    listingComplete: repo.listingComplete,
    decisions: decisionsByRepository[repoOrder] as RetentionDecision[],
    totals: totalsByRepository[repoOrder] as RetentionTotals,
  }));
  return {
    version: 1,
    plannedAt: options.now.toISOString(),
    caps: { perRepository: options.caps.perRepository, global: options.caps.global },
    repositories: repositoryPlans,
    totals: sumTotals(repositoryPlans.map((plan) => plan.totals)),
  };
}
