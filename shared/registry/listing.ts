import { ensureError, PartialListingError } from "../errors/index.js";

/**
 * Page-by-page listings. `fetchPage(cursor)` fetches one page (with its own retries) and says where
 * the next one starts; the iterable yields items as pages arrive. When a page fails for good, the
 * iterable throws `PartialListingError` naming how many items were yielded, so a loop that ends
 * normally has seen the whole listing. A failure before the first page is thrown as it is (a 404 then
 * means "this repository does not exist"; a 401 means no access); no items were yielded either way.
 */
export interface Page<T> {
  readonly items: readonly T[];
  /** Where the next page starts (a Link target or an SDK continuation token); undefined at the end. */
  readonly next?: string;
}

export function pagedListing<T>(
  listing: string,
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      let cursor: string | undefined;
      let itemsSeen = 0;
      let pages = 0;
      for (;;) {
        let page: Page<T>;
        try {
          page = await fetchPage(cursor);
        } catch (thrown) {
          const error = ensureError(thrown);
          // Before the first page nothing was yielded, so nothing can be mistaken for the listing:
          // the caller gets the real reason (not found, credentials...) as it is.
          if (pages === 0) throw error;
          throw new PartialListingError(
            `the listing of ${listing} stopped after ${itemsSeen} item${itemsSeen === 1 ? "" : "s"} (${pages} page${pages === 1 ? "" : "s"}): ${error.message} — what was seen is not the complete listing`,
            { listing, itemsSeen, cause: error, context: { pages, cursor } },
          );
        }
        pages += 1;
        for (const item of page.items) {
          itemsSeen += 1;
          yield item;
        }
        if (page.next === undefined) return;
        if (page.next === cursor) {
          // A registry that hands back the page we just read would loop forever; stopping quietly would
          // pass a partial listing off as complete.
          throw new PartialListingError(
            `the listing of ${listing} stopped after ${itemsSeen} items: the registry returned the same next-page link twice (${cursor}) — what was seen is not the complete listing`,
            { listing, itemsSeen, context: { pages, cursor } },
          );
        }
        cursor = page.next;
      }
    },
  };
}

/**
 * Collects a listing into an array. On failure the `PartialListingError` carries the items collected so
 * far (`items`), for callers that want to show them, clearly marked as incomplete.
 */
export async function collectListing<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  try {
    for await (const item of iterable) items.push(item);
    return items;
  } catch (thrown) {
    if (thrown instanceof PartialListingError) {
      throw new PartialListingError<T>(thrown.message, {
        listing: thrown.listing,
        itemsSeen: thrown.itemsSeen,
        items,
        cause: thrown.cause,
        context: thrown.context,
      });
    }
    throw thrown;
  }
}

/** Maps over items with at most `concurrency` promises in flight, keeping input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  map: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    for (;;) {
      const index = nextIndex;
      nextIndex += 1;
      if (index >= items.length) return;
      results[index] = await map(items[index] as T, index);
    }
  });
  await Promise.all(workers);
  return results;
}
