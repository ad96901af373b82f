/**
 * Event timestamps. ACR writes them with anything from no fraction to nine fractional digits
 * (Go nanoseconds in older samples, .NET ticks in newer ones) and with `Z`, `+00:00` or a local
 * offset such as `-07:00`. The inventory orders events by `occurredAt`, so every timestamp is
 * normalized to one fixed-width UTC form in which string order equals time order:
 * `YYYY-MM-DDTHH:MM:SS.fffffffffZ` (always nine fractional digits, nanoseconds).
 */

const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;

const FRACTION_DIGITS = 9;

export type TimestampResult = { ok: true; value: string } | { ok: false; reason: string };

function inRange(value: number, low: number, high: number): boolean {
  return value >= low && value <= high;
}

/**
 * Parses an RFC 3339 / ISO 8601 timestamp that carries a UTC offset and returns it as UTC with
 * nine fractional digits. Timestamps without an offset are refused: their time zone is a guess.
 */
export function normalizeTimestamp(text: string): TimestampResult {
  const match = TIMESTAMP_PATTERN.exec(text.trim());
  if (!match) {
    return {
      ok: false,
      reason: "expected an ISO 8601 date-time with a UTC offset, e.g. 2021-09-08T06:37:45.4681009Z",
    };
  }
  const [, y, mo, d, h, mi, s, fraction = "", zulu, sign, offsetH = "00", offsetM = "00"] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (!inRange(month, 1, 12) || !inRange(day, 1, 31))
    return { ok: false, reason: "month or day out of range" };
  if (!inRange(hour, 0, 23) || !inRange(minute, 0, 59) || !inRange(second, 0, 59)) {
    return { ok: false, reason: "hour, minute or second out of range" };
  }
  if (!zulu && sign === undefined) return { ok: false, reason: "missing UTC offset" };
  const offsetHours = Number(offsetH);
  const offsetMinutes = Number(offsetM);
  if (!inRange(offsetHours, 0, 23) || !inRange(offsetMinutes, 0, 59)) {
    return { ok: false, reason: "UTC offset out of range" };
  }

  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, 0);
  // Date silently rolls 2021-02-30 over to March; a calendar date that does not exist is an error.
  if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day) {
    return { ok: false, reason: "no such calendar date" };
  }
  const offsetMs = (sign === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const utc = new Date(local.getTime() - (zulu ? 0 : offsetMs));
  const utcYear = utc.getUTCFullYear();
  if (!inRange(utcYear, 1, 9999)) return { ok: false, reason: "year out of range" };

  // Years 1-9999 print as four digits without a sign, which keeps string order equal to time order.
  const wholeSeconds = utc.toISOString().slice(0, 19);
  const nanos = fraction.slice(0, FRACTION_DIGITS).padEnd(FRACTION_DIGITS, "0");
  return { ok: true, value: `${wholeSeconds}.${nanos}Z` };
}

/** Orders two normalized `occurredAt` values (as produced by normalizeTimestamp). */
export function compareOccurredAt(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
