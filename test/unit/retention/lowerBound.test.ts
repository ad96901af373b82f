import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lowerBound } from "../../../shared/retention/planner.js";

/** The planner finds children and subjects with this; any guess must give the exact answer. */
describe("lowerBound", () => {
  it("finds the first key not below the sought one, from any starting guess", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 300 }),
        fc.integer({ min: -5, max: 65 }),
        fc.nat(),
        (values, key, guessSeed) => {
          const keys = Float64Array.from(values.sort((left, right) => left - right));
          const expected = keys.findIndex((value) => value >= key);
          const guess = guessSeed % (keys.length + 1);
          expect(lowerBound(keys, key, guess)).toBe(expected === -1 ? keys.length : expected);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("handles an empty list and runs of equal keys", () => {
    expect(lowerBound(new Float64Array(0), 3, 0)).toBe(0);
    const keys = Float64Array.from([1, 2, 2, 2, 2, 2, 2, 9]);
    for (let guess = 0; guess <= keys.length; guess += 1) {
      expect(lowerBound(keys, 2, guess)).toBe(1);
      expect(lowerBound(keys, 3, guess)).toBe(7);
      expect(lowerBound(keys, 10, guess)).toBe(8);
      expect(lowerBound(keys, 0, guess)).toBe(0);
    }
  });
});
