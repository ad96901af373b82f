import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseInstant } from "../../../shared/retention/planner.js";

/** The planner reads registry timestamps with its own fast path; it must agree with Date.parse exactly. */
describe("parseInstant", () => {
  it("reads every canonical UTC instant from 1970 to 9999 as Date.parse does", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (milliseconds) => {
        const text = new Date(milliseconds).toISOString();
        expect(parseInstant(text)).toBe(milliseconds);
      }),
      { numRuns: 2000 },
    );
  });

  it("agrees with Date.parse on near-canonical and invalid text (NaN included)", () => {
    const twoDigits = fc.integer({ min: 0, max: 99 }).map((value) => String(value).padStart(2, "0"));
    const nearCanonical = fc
      .tuple(
        fc.integer({ min: 1900, max: 2400 }),
        twoDigits,
        twoDigits,
        twoDigits,
        twoDigits,
        twoDigits,
        fc.integer({ min: 0, max: 999 }),
      )
      .map(
        ([year, month, day, hour, minute, second, millis]) =>
          `${year}-${month}-${day}T${hour}:${minute}:${second}.${String(millis).padStart(3, "0")}Z`,
      );
    fc.assert(
      fc.property(fc.oneof(nearCanonical, fc.string({ maxLength: 30 })), (text) => {
        expect(parseInstant(text)).toBe(Date.parse(text));
      }),
      { numRuns: 3000 },
    );
    for (const text of ["2024-02-29T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "2026-05-01T12:00:00Z"])
      expect(parseInstant(text)).toBe(Date.parse(text));
    expect(parseInstant(undefined)).toBeNaN();
  });
});
