/**
 * A bounded least-recently-used cache: at most `maxEntries` entries and `maxBytes` of weight, each
 * entry optionally expiring `ttlMs` after it was stored. Used for manifests by digest (immutable,
 * no TTL) and tag listings (short TTL), so that memory stays bounded on registries of any size.
 */
export interface LruCacheOptions<V> {
  readonly maxEntries: number;
  readonly maxBytes?: number;
  readonly ttlMs?: number;
  /** Weight of a value in bytes (defaults to 1 per entry, so only `maxEntries` bounds it). */
  readonly sizeOf?: (value: V) => number;
  readonly now?: () => number;
}

interface Entry<V> {
  readonly value: V;
  readonly size: number;
  readonly storedAt: number;
}

export class LruCache<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #options: LruCacheOptions<V>;
  readonly #now: () => number;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(options: LruCacheOptions<V>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses += 1;
      return undefined;
    }
    if (this.#options.ttlMs !== undefined && this.#now() - entry.storedAt >= this.#options.ttlMs) {
      this.delete(key);
      this.#misses += 1;
      return undefined;
    }
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#hits += 1;
    return entry.value;
  }

  set(key: K, value: V): void {
    const size = this.#options.sizeOf?.(value) ?? 1;
    this.delete(key);
    if (this.#options.maxBytes !== undefined && size > this.#options.maxBytes) return;
    this.#entries.set(key, { value, size, storedAt: this.#now() });
    this.#bytes += size;
    this.#evict();
  }

  delete(key: K): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.size;
  }

  /** Drops every entry whose key matches (e.g. all tag listings of a repository after an untag). */
  deleteWhere(predicate: (key: K) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (predicate(key)) this.delete(key);
  }

  #evict(): void {
    const maxBytes = this.#options.maxBytes ?? Number.POSITIVE_INFINITY;
    while (this.#entries.size > this.#options.maxEntries || this.#bytes > maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) return;
      this.delete(oldest.value);
    }
  }
}
