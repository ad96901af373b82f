/**
 * Durations in retention policies: a positive whole number and one unit, `90m`, `12h`, `30d`, `2w`.
 * One unit only, so that `1d12h` cannot be misread; months and years are left out because their
 * length varies. The upper bound exists because `--ago 999999d` once overflowed in a peer tool and
 * deleted everything.
 */

export const DURATION_PATTERN = /^([0-9]{1,12})(m|h|d|w)$/;

const MILLISECONDS_PER_UNIT = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
} as const;

/** 150 years of 365.25 days. */
export const MAX_DURATION_MS = 150 * 365.25 * 86_400_000;

export type DurationCheck = { ok: true; milliseconds: number } | { ok: false; problem: string };

/** Checks a duration string without throwing; the policy schema turns problems into issues. */
export function checkDuration(text: string): DurationCheck {
  const match = DURATION_PATTERN.exec(text);
  if (!match) {
    return {
      ok: false,
      problem: `"${text}" is not a duration: write a whole number and one unit, e.g. 90m, 12h, 30d or 2w`,
    };
  }
  const amount = Number(match[1]);
  const unit = match[2] as keyof typeof MILLISECONDS_PER_UNIT;
  if (amount === 0) return { ok: false, problem: `"${text}" must be greater than zero` };
  const milliseconds = amount * MILLISECONDS_PER_UNIT[unit];
  if (milliseconds > MAX_DURATION_MS) {
    return { ok: false, problem: `"${text}" is longer than 150 years; that is surely a mistake` };
  }
  return { ok: true, milliseconds };
}

/** Parses a duration already accepted by the schema. */
export function durationToMilliseconds(text: string): number {
  const checked = checkDuration(text);
  if (!checked.ok) throw new RangeError(checked.problem);
  return checked.milliseconds;
}

/** A compact human form for reasons: `30d`, `2w`, `36h`. */
export function formatDuration(milliseconds: number): string {
  for (const unit of ["w", "d", "h"] as const) {
    const size = MILLISECONDS_PER_UNIT[unit];
    if (milliseconds >= size && milliseconds % size === 0) return `${milliseconds / size}${unit}`;
  }
  return `${Math.round(milliseconds / MILLISECONDS_PER_UNIT.m)}m`;
}
