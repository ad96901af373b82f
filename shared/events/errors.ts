import type { z } from "zod";
import { ValidationError } from "../errors/index.js";

/** One problem found in an event, located by a JSON path rooted at the whole delivery (`$`). */
export interface EventIssue {
  /** e.g. `$[3].data.target.digest`. */
  readonly path: string;
  readonly message: string;
}

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Renders a path as JSONPath: `$[3].data.target.digest`, `$["odd key"]`. */
export function formatJsonPath(segments: readonly PathSegment[]): string {
  let out = "$";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

const MAX_SHOWN_INPUT = 80;

/** A short, safe rendering of the offending value for messages (events carry no secrets). */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    const shown = value.length > MAX_SHOWN_INPUT ? `${value.slice(0, MAX_SHOWN_INPUT)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Turns zod issues into our issues, re-rooted under `root` (the event's path in the delivery). */
export function issuesFromZod(error: z.ZodError, root: readonly PathSegment[]): EventIssue[] {
  return error.issues.map((issue) => {
    const segments = [...root, ...issue.path.map((key) => (typeof key === "symbol" ? String(key) : key))];
    const received =
      "input" in issue && issue.code !== "invalid_type" ? ` (got ${describeValue(issue.input)})` : "";
    const message =
      issue.code === "invalid_type" && issue.input === undefined
        ? "is required"
        : `${issue.message}${received}`;
    return { path: formatJsonPath(segments), message };
  });
}

/**
 * A delivered event (or a whole delivery) that can never be applied as given. Not retried.
 * `issues` holds every problem with its JSON path; `cause` keeps the ZodError when zod found them.
 */
export class EventParseError extends ValidationError {
  readonly issues: readonly EventIssue[];
  /** Path of the first problem, e.g. `$[3].data.target.digest`. */
  readonly path: string;

  constructor(issues: readonly [EventIssue, ...EventIssue[]], options: { cause?: unknown } = {}) {
    const [first] = issues;
    const more =
      issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
    super(`${first.path}: ${first.message}${more}`, {
      cause: options.cause,
      context: { path: first.path, issues: issues.map((i) => `${i.path}: ${i.message}`) },
    });
    this.issues = issues;
    this.path = first.path;
  }

  static at(path: readonly PathSegment[], message: string, cause?: unknown): EventParseError {
    return new EventParseError([{ path: formatJsonPath(path), message }], { cause });
  }

  static fromZod(error: z.ZodError, root: readonly PathSegment[]): EventParseError {
    const issues = issuesFromZod(error, root);
    const [first, ...rest] = issues;
    if (first === undefined) return EventParseError.at(root, "is invalid", error);
    return new EventParseError([first, ...rest], { cause: error });
  }
}
