import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sortedPositions } from "../../../shared/retention/planner.js";

/** The planner orders manifests with this; it must agree with a plain comparator sort, ties stable. */
function referenceOrder(keys: readonly string[]): number[] {
  return keys
    .map((key, position) => ({ key, position }))
    .sort((left, right) =>
      left.key < right.key ? -1 : left.key > right.key ? 1 : left.position - right.position,
    )
    .map((entry) => entry.position);
}

const hexDigest = fc
  .string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 1, maxLength: 8 })
  .map((hex) => `sha256:${hex}`);
const anyKey = fc.oneof(
  hexDigest,
  fc.string(),
  fc.string({ unit: "binary", maxLength: 6 }),
  fc.string({ unit: fc.constantFrom("a", "b"), maxLength: 14 }),
);

describe("sortedPositions", () => {
  it("orders like a code-unit comparator, equal keys in input order (small and large lists)", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.array(anyKey), fc.array(anyKey, { minLength: 1024, maxLength: 3000 })),
        (keys) => {
          const mayEqualPrevious = new Uint8Array(keys.length);
          const order = sortedPositions(keys, mayEqualPrevious);
          expect(order).toEqual(referenceOrder(keys));
          // A 0 promises a different string from the one before; equal neighbours always get a 1.
          order.forEach((position, slot) => {
            const previous = slot > 0 ? keys[order[slot - 1] as number] : undefined;
            if (previous === keys[position]) expect(mayEqualPrevious[slot]).toBe(1);
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it("stays exact when a late key brings a character the first keys did not have", () => {
    fc.assert(
      fc.property(
        fc.array(hexDigest, { minLength: 1500, maxLength: 2500 }),
        fc.nat(),
        fc.constantFrom("G", "~", "\u00e9", "\ud83d", "!"),
        (keys, at, odd) => {
          const late = 300 + (at % (keys.length - 300));
          const mixed = keys.map((key, position) =>
            position === late ? `${key.slice(0, 8)}${odd}${key.slice(9)}` : key,
          );
          expect(sortedPositions(mixed)).toEqual(referenceOrder(mixed));
        },
      ),
      { numRuns: 20 },
    );
  });

  it("handles many duplicates and keys that are prefixes of each other", () => {
    const keys = Array.from({ length: 5000 }, (_unused, index) => "sha256:ab".slice(0, 7 + (index % 3)));
    const mayEqualPrevious = new Uint8Array(keys.length);
    const order = sortedPositions(keys, mayEqualPrevious);
    expect(order).toEqual(referenceOrder(keys));
    // Three distinct strings: the first of each run differs from the one before, the rest may not.
    expect([...mayEqualPrevious].filter((flag) => flag === 0)).toHaveLength(3);
  });
});
