import safeRegex from "safe-regex2";

/**
 * Patterns in retention policies.
 *
 * Repository globs work on path segments separated by `/`: `*` matches any characters inside one
 * segment, `?` one character inside a segment, and `**` (only as a whole segment) matches zero or
 * more segments, so `team/**` matches `team`, `team/web` and `team/web/api`. Everything else is
 * literal. Globs are matched against the whole repository name.
 *
 * Tag globs: tags have no `/`, so `*` matches any run of characters and `?` one character.
 *
 * Tag regular expressions are JavaScript regular expressions, always anchored at both ends (the
 * policy's `v[0-9]+` means `^(?:v[0-9]+)$`). Because a policy is code that runs on every
 * push, expressions that can backtrack catastrophically are refused when the policy loads.
 */

export const MAX_REGEX_LENGTH = 200;
export const MAX_GLOB_LENGTH = 255;

const REPOSITORY_GLOB_SEGMENT = /^[a-z0-9._*?-]+$/;
const TAG_GLOB = /^[A-Za-z0-9._*?-]+$/;

function escapeLiteral(character: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(character) ? `\\${character}` : character;
}

function segmentToRegexSource(segment: string): string {
  let source = "";
  for (const character of segment) {
    if (character === "*") source += "[^/]*";
    else if (character === "?") source += "[^/]";
    else source += escapeLiteral(character);
  }
  return source;
}

/** Returns why a repository glob is unusable, or undefined when it is fine. */
export function checkRepositoryGlob(glob: string): string | undefined {
  if (glob.length === 0) return "a repository pattern cannot be empty";
  if (glob.length > MAX_GLOB_LENGTH) return `a repository pattern has at most ${MAX_GLOB_LENGTH} characters`;
  const segments = glob.split("/");
  for (const segment of segments) {
    if (segment.length === 0) return `"${glob}" has an empty path segment (leading, trailing or double '/')`;
    if (segment.includes("**") && segment !== "**") {
      return `"${glob}": '**' must be a whole path segment, like 'team/**' or '**/web'`;
    }
    if (!REPOSITORY_GLOB_SEGMENT.test(segment)) {
      return `"${glob}" may contain only lowercase letters, digits, '.', '_', '-', '/', '*' and '?'`;
    }
  }
  return undefined;
}

export function compileRepositoryGlob(glob: string): RegExp {
  const problem = checkRepositoryGlob(glob);
  if (problem) throw new RangeError(problem);
  // Consecutive '**' segments mean the same as one.
  const segments = glob
    .split("/")
    .filter((segment, index, all) => !(segment === "**" && all[index - 1] === "**"));
  let source = "";
  let needsSeparator = false;
  segments.forEach((segment, index) => {
    if (segment !== "**") {
      if (needsSeparator) source += "/";
      source += segmentToRegexSource(segment);
      needsSeparator = true;
    } else if (segments.length === 1) {
      source += "[^/]+(?:/[^/]+)*";
    } else if (index === 0) {
      source += "(?:[^/]+/)*";
      needsSeparator = false;
    } else {
      source += "(?:/[^/]+)*";
      needsSeparator = true;
    }
  });
  return new RegExp(`^${source}$`);
}

export function checkTagGlob(glob: string): string | undefined {
  if (glob.length === 0) return "a tag pattern cannot be empty";
  if (glob.length > MAX_GLOB_LENGTH) return `a tag pattern has at most ${MAX_GLOB_LENGTH} characters`;
  if (!TAG_GLOB.test(glob)) return `"${glob}" may contain only letters, digits, '.', '_', '-', '*' and '?'`;
  return undefined;
}

function tagGlobSource(glob: string): string {
  const problem = checkTagGlob(glob);
  if (problem) throw new RangeError(problem);
  let source = "";
  for (const character of glob) {
    if (character === "*") source += ".*";
    else if (character === "?") source += ".";
    else source += escapeLiteral(character);
  }
  return source;
}

export function compileTagGlob(glob: string): RegExp {
  return new RegExp(`^${tagGlobSource(glob)}$`);
}

/** One expression matching a whole tag that any of the globs matches: one test per tag, not one per glob. */
export function compileTagGlobs(globs: readonly string[]): RegExp {
  if (globs.length === 1) return compileTagGlob(globs[0] as string);
  return new RegExp(`^(?:${globs.map(tagGlobSource).join("|")})$`);
}

interface GroupState {
  containsQuantifier: boolean;
  containsAlternation: boolean;
}

/**
 * Finds constructs that make backtracking explode or that we do not want in policies:
 * backreferences, and a repeating quantifier applied to a group that itself contains a quantifier
 * or an alternation (`(a+)+`, `(\.[0-9]+)*`, `(a|ab)*`). safe-regex2 catches most star-height
 * problems; this scan is deliberately stricter and simple enough to trust.
 */
function findDangerousConstruct(source: string): string | undefined {
  const stack: GroupState[] = [{ containsQuantifier: false, containsAlternation: false }];
  let index = 0;
  const quantifierAt = (position: number): { repeats: boolean; length: number } | undefined => {
    const character = source[position];
    if (character === "*" || character === "+") return { repeats: true, length: 1 };
    if (character === "?") return { repeats: false, length: 1 };
    if (character === "{") {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(position));
      if (!match) return undefined;
      const max =
        match[2] === undefined
          ? Number(match[1])
          : match[3] === ""
            ? Number.POSITIVE_INFINITY
            : Number(match[3]);
      return { repeats: max > 1, length: match[0].length };
    }
    return undefined;
  };
  while (index < source.length) {
    const character = source[index] as string;
    const current = stack[stack.length - 1] as GroupState;
    if (character === "\\") {
      const next = source[index + 1] ?? "";
      if (/[1-9]/.test(next) || next === "k") return "backreferences are not allowed";
      index += 2;
    } else if (character === "[") {
      // Skip the character class; inside it, quantifier characters are literal.
      index += 1;
      if (source[index] === "^") index += 1;
      if (source[index] === "]") index += 1;
      while (index < source.length && source[index] !== "]") index += source[index] === "\\" ? 2 : 1;
      index += 1;
    } else if (character === "(") {
      stack.push({ containsQuantifier: false, containsAlternation: false });
      index += 1;
      if (source[index] === "?") {
        // (?:  (?=  (?!  (?<=  (?<!  (?<name>
        index += 1;
        if (source[index] === "<" && source[index + 1] !== "=" && source[index + 1] !== "!") {
          while (index < source.length && source[index] !== ">") index += 1;
        }
        index += 1;
      }
    } else if (character === ")") {
      const group = stack.pop();
      const parent = stack[stack.length - 1];
      if (!group || !parent) return "unbalanced parenthesis";
      index += 1;
      const quantifier = quantifierAt(index);
      if (quantifier) {
        if (quantifier.repeats && (group.containsQuantifier || group.containsAlternation)) {
          return "a repeated group may not contain quantifiers or alternatives (nested quantifiers can backtrack catastrophically)";
        }
        index += quantifier.length;
        if (source[index] === "?") index += 1;
        parent.containsQuantifier = true;
      }
      parent.containsQuantifier ||= group.containsQuantifier;
      parent.containsAlternation ||= group.containsAlternation;
    } else if (character === "|") {
      current.containsAlternation = true;
      index += 1;
    } else {
      const quantifier = quantifierAt(index);
      if (quantifier) {
        current.containsQuantifier = true;
        index += quantifier.length;
        if (source[index] === "?") index += 1;
      } else {
        index += 1;
      }
    }
  }
  return undefined;
}

/** Returns why a tag regular expression is refused, or undefined when it is acceptable. */
export function checkTagRegex(source: string): string | undefined {
  if (source.length === 0) return "a regular expression cannot be empty";
  if (source.length > MAX_REGEX_LENGTH)
    return `a regular expression has at most ${MAX_REGEX_LENGTH} characters`;
  let anchored: RegExp;
  try {
    anchored = new RegExp(`^(?:${source})$`);
  } catch (error) {
    return `not a valid regular expression: ${(error as Error).message}`;
  }
  const dangerous = findDangerousConstruct(source);
  if (dangerous) return `"${source}" is refused: ${dangerous}`;
  if (!safeRegex(anchored)) return `"${source}" is refused: it could backtrack catastrophically`;
  return undefined;
}

export function compileTagRegex(source: string): RegExp {
  const problem = checkTagRegex(source);
  if (problem) throw new RangeError(problem);
  return new RegExp(`^(?:${source})$`);
}
