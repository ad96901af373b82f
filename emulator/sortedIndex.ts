/**
 * An ordered collection for paged listings. Appends in order and single inserts stay sorted; bulk loads
 * (seeds) append unsorted and sort once on the next read, so pages never re-sort the whole registry.
 */
export class SortedIndex<T> {
  private items: T[] = [];
  private sorted = true;

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  insert(item: T): void {
    const last = this.items[this.items.length - 1];
    if (!this.sorted || last === undefined || this.compare(last, item) <= 0) {
      this.items.push(item);
      return;
    }
    this.items.splice(this.lowerBound(item), 0, item);
  }

  /** Appends without ordering; the next read sorts once. For loading many items. */
  insertUnordered(item: T): void {
    this.items.push(item);
    this.sorted = false;
  }

  remove(item: T): boolean {
    this.ensureSorted();
    const at = this.lowerBound(item);
    const found = this.items[at];
    if (found === undefined || this.compare(found, item) !== 0) return false;
    this.items.splice(at, 1);
    return true;
  }

  /**
   * Up to `limit` items (passing `accept`) strictly after `after` in ascending order, or strictly before
   * it when `descending`. `more` tells whether another accepted item follows the page.
   */
  page(
    after: T | undefined,
    limit: number,
    descending: boolean,
    accept: (item: T) => boolean = () => true,
  ): { items: T[]; more: boolean } {
    this.ensureSorted();
    const out: T[] = [];
    const step = descending ? -1 : 1;
    let at: number;
    if (after === undefined) at = descending ? this.items.length - 1 : 0;
    else if (descending) at = this.lowerBound(after) - 1;
    else at = this.upperBound(after);
    for (; at >= 0 && at < this.items.length; at += step) {
      const item = this.items[at] as T;
      if (!accept(item)) continue;
      if (out.length === limit) return { items: out, more: true };
      out.push(item);
    }
    return { items: out, more: false };
  }

  *values(): IterableIterator<T> {
    this.ensureSorted();
    yield* this.items;
  }

  private ensureSorted(): void {
    if (this.sorted) return;
    this.items.sort(this.compare);
    this.sorted = true;
  }

  /** First index whose item is >= probe. */
  private lowerBound(probe: T): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.items[mid] as T, probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose item is > probe. */
  private upperBound(probe: T): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.items[mid] as T, probe) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Byte-wise (code unit) order, which is what registries mean by "lexical". */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface TimeKey {
  readonly time: number;
  readonly id: string;
}

export function compareTimeKeys(a: TimeKey, b: TimeKey): number {
  return a.time - b.time || compareStrings(a.id, b.id);
}
