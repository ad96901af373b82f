import { describe, expect, it } from "vitest";
import { LruCache } from "../../../shared/registry/cache.js";

describe("LruCache", () => {
  it("evicts the least recently used entry beyond maxEntries", () => {
    const cache = new LruCache<string, number>({ maxEntries: 2 });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
  });

  it("bounds the total weight and refuses values larger than the bound", () => {
    const cache = new LruCache<string, string>({ maxEntries: 100, maxBytes: 10, sizeOf: (v) => v.length });
    cache.set("a", "12345");
    cache.set("b", "12345");
    cache.set("c", "123");
    expect(cache.bytes).toBeLessThanOrEqual(10);
    expect(cache.get("a")).toBeUndefined();
    cache.set("huge", "x".repeat(11));
    expect(cache.get("huge")).toBeUndefined();
  });

  it("expires entries after their TTL", () => {
    let now = 0;
    const cache = new LruCache<string, number>({ maxEntries: 10, ttlMs: 1000, now: () => now });
    cache.set("tags", 1);
    now = 999;
    expect(cache.get("tags")).toBe(1);
    now = 1000;
    expect(cache.get("tags")).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
