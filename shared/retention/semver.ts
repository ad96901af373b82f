/**
 * Semantic versions read from tags, for "keep the N highest versions". Accepted: an optional `v`,
 * then MAJOR, MAJOR.MINOR or MAJOR.MINOR.PATCH (missing parts count as 0), then an optional
 * `-prerelease`. Tags cannot contain `+`, so build metadata never appears. Precedence follows
 * semver 2.0.0: a pre-release sorts below its release (`1.2.0-rc.1` < `1.2.0`).
 */

export interface SemanticVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly (string | number)[];
}

const SEMVER_TAG =
  /^v?(0|[1-9][0-9]{0,14})(?:\.(0|[1-9][0-9]{0,14}))?(?:\.(0|[1-9][0-9]{0,14}))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function parseSemanticVersion(tag: string): SemanticVersion | undefined {
  const match = SEMVER_TAG.exec(tag);
  if (!match) return undefined;
  const prerelease = match[4]
    ? match[4]
        .split(".")
        .map((identifier) => (/^(0|[1-9][0-9]{0,14})$/.test(identifier) ? Number(identifier) : identifier))
    : [];
  return {
    major: Number(match[1]),
    minor: Number(match[2] ?? 0),
    patch: Number(match[3] ?? 0),
    prerelease,
  };
}

function compareIdentifiers(left: string | number, right: string | number): number {
  if (typeof left === "number" && typeof right === "number") return left - right;
  if (typeof left === "number") return -1;
  if (typeof right === "number") return 1;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Negative when `left` has lower precedence than `right`, positive when higher, 0 when equal. */
export function compareSemanticVersions(left: SemanticVersion, right: SemanticVersion): number {
  const core = left.major - right.major || left.minor - right.minor || left.patch - right.patch;
  if (core !== 0) return core;
  if (left.prerelease.length === 0 || right.prerelease.length === 0) {
    return right.prerelease.length - left.prerelease.length;
  }
  const shared = Math.min(left.prerelease.length, right.prerelease.length);
  for (let index = 0; index < shared; index += 1) {
    const compared = compareIdentifiers(
      left.prerelease[index] as string | number,
      right.prerelease[index] as string | number,
    );
    if (compared !== 0) return compared;
  }
  return left.prerelease.length - right.prerelease.length;
}
