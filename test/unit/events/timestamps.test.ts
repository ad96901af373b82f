import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareOccurredAt, normalizeTimestamp, RegistryEventSchema } from "../../../shared/events/index.js";

function normalized(text: string): string {
  const result = normalizeTimestamp(text);
  if (!result.ok) throw new Error(`expected ${text} to parse: ${result.reason}`);
  return result.value;
}

describe("normalizeTimestamp", () => {
  it.each([
    ["2021-09-08T06:37:45.4681009Z", "2021-09-08T06:37:45.468100900Z"],
    ["2018-04-25T21:39:47.276585742Z", "2018-04-25T21:39:47.276585742Z"],
    ["2019-03-12T22:16:31.0087496+00:00", "2019-03-12T22:16:31.008749600Z"],
    ["2019-03-12T15:42:08.3783775-07:00", "2019-03-12T22:42:08.378377500Z"],
    ["2026-03-02T13:59:59.125+02:00", "2026-03-02T11:59:59.125000000Z"],
    ["2026-03-02T09:15:27Z", "2026-03-02T09:15:27.000000000Z"],
    ["2026-03-02t09:15:27z", "2026-03-02T09:15:27.000000000Z"],
    ["2026-03-02 09:15:27+0530", "2026-03-02T03:45:27.000000000Z"],
    ["2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000000000Z"],
    ["2026-03-02T09:15:27.1234567891234Z", "2026-03-02T09:15:27.123456789Z"],
    ["2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000000000Z"],
  ])("%s → %s", (input, expected) => {
    expect(normalized(input)).toBe(expected);
  });

  it.each([
    ["no offset", "2026-03-02T09:15:27.5"],
    ["a three-digit year (seen in a published sample)", "019-03-12T22:42:08.7034064Z"],
    ["February 30th", "2026-02-30T00:00:00Z"],
    ["hour 24", "2026-03-02T24:00:00Z"],
    ["second 60", "2026-03-02T23:59:60Z"],
    ["an offset of 25 hours", "2026-03-02T09:15:27+25:00"],
    ["a date only", "2026-03-02"],
    ["epoch milliseconds", "1772442927000"],
    ["words", "yesterday"],
  ])("refuses %s", (_what, input) => {
    expect(normalizeTimestamp(input).ok).toBe(false);
  });

  it("produces values the RegistryEvent schema accepts", () => {
    const occurredAt = normalized("2019-03-12T15:42:08.3783775-07:00");
    expect(RegistryEventSchema.shape.occurredAt.safeParse(occurredAt).success).toBe(true);
  });

  it("keeps the same instant as Date (to the millisecond) for any offset and precision", () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date("1971-01-01T00:00:00Z"),
          max: new Date("2999-12-31T00:00:00Z"),
          noInvalidDate: true,
        }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        fc.integer({ min: 0, max: 9 }),
        (date, offsetMinutes, digits) => {
          const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString();
          const sign = offsetMinutes < 0 ? "-" : "+";
          const abs = Math.abs(offsetMinutes);
          const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
          const fraction = digits === 0 ? "" : `.${local.slice(20, 23).padEnd(digits, "0").slice(0, digits)}`;
          const text = `${local.slice(0, 19)}${fraction}${offset}`;
          const expectedMs = Date.parse(`${local.slice(0, 19)}${fraction.slice(0, 4)}${offset}`);
          expect(Date.parse(normalized(text))).toBe(expectedMs);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("compareOccurredAt", () => {
  it("string order of normalized values is time order, across precisions and offsets", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 253_402_300_799_999_999_999n }),
        fc.bigInt({ min: 0n, max: 253_402_300_799_999_999_999n }),
        (a, b) => {
          const text = (nanos: bigint) => {
            const ms = Number(nanos / 1_000_000n);
            const whole = new Date(ms).toISOString().slice(0, 19);
            const fraction = (nanos % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
            return `${whole}${fraction === "" ? "" : `.${fraction}`}Z`;
          };
          const order = compareOccurredAt(normalized(text(a)), normalized(text(b)));
          expect(order).toBe(a < b ? -1 : a > b ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
