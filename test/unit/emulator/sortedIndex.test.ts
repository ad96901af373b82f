import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareStrings, SortedIndex } from "../../../emulator/sortedIndex.js";

/** The ordered index against a naive model: any mix of inserts, bulk loads and removes pages the same. */
describe("SortedIndex", () => {
  it("pages like a sorted array, ascending and descending, after any operations", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("insert" as const), value: fc.string({ maxLength: 3 }) }),
      fc.record({ kind: fc.constant("bulk" as const), value: fc.string({ maxLength: 3 }) }),
      fc.record({ kind: fc.constant("remove" as const), value: fc.string({ maxLength: 3 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.option(fc.string({ maxLength: 3 })),
        fc.integer({ min: 1, max: 5 }),
        (ops, after, limit) => {
          const index = new SortedIndex<string>(compareStrings);
          const model: string[] = [];
          for (const { kind, value } of ops) {
            if (kind === "remove") {
              const at = model.indexOf(value);
              expect(index.remove(value)).toBe(at >= 0);
              if (at >= 0) model.splice(at, 1);
            } else if (!model.includes(value)) {
              if (kind === "insert") index.insert(value);
              else index.insertUnordered(value);
              model.push(value);
            }
          }
          model.sort(compareStrings);
          const start = after ?? undefined;
          const ascending = model.filter((v) => start === undefined || v > start);
          const descending = model.filter((v) => start === undefined || v < start).reverse();
          expect(index.page(start, limit, false)).toEqual({
            items: ascending.slice(0, limit),
            more: ascending.length > limit,
          });
          expect(index.page(start, limit, true)).toEqual({
            items: descending.slice(0, limit),
            more: descending.length > limit,
          });
          expect(index.size).toBe(model.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("skips items the filter rejects without counting them against the page", () => {
    const index = new SortedIndex<string>(compareStrings);
    for (const v of ["a", "b", "c", "d", "e"]) index.insert(v);
    expect(index.page(undefined, 2, false, (v) => v !== "b")).toEqual({ items: ["a", "c"], more: true });
    expect(index.page("c", 2, false, (v) => v !== "e")).toEqual({ items: ["d"], more: false });
  });
});
