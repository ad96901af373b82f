import { describe, expect, it } from "vitest";
import { NotFoundError, PartialListingError, UnavailableError } from "../../../shared/errors/index.js";
import { collectListing, pagedListing } from "../../../shared/registry/listing.js";

function pages(failAtPage?: number, error: Error = new UnavailableError("503")) {
  const calls: (string | undefined)[] = [];
  const listing = pagedListing("tags of app", async (cursor) => {
    calls.push(cursor);
    const index = cursor === undefined ? 0 : Number(cursor);
    if (index === failAtPage) throw error;
    const items = [index * 2, index * 2 + 1];
    return index < 2 ? { items, next: String(index + 1) } : { items };
  });
  return { listing, calls };
}

describe("pagedListing", () => {
  it("follows the next cursor to the end, one fetch per page", async () => {
    const { listing, calls } = pages();
    expect(await collectListing(listing)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(calls).toEqual([undefined, "1", "2"]);
  });

  it("ends with PartialListingError, never silently, when a later page fails", async () => {
    const { listing } = pages(2);
    const seen: number[] = [];
    const error = await (async () => {
      try {
        for await (const item of listing) seen.push(item);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(error).toBeInstanceOf(PartialListingError);
    const partial = error as PartialListingError;
    expect(partial.itemsSeen).toBe(4);
    expect(partial.cause).toBeInstanceOf(UnavailableError);
    expect(partial.message).toMatch(/not the complete listing/);
  });

  it("hands the collected items to callers of collectListing", async () => {
    const { listing } = pages(1);
    const error = await collectListing(listing).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PartialListingError);
    expect((error as PartialListingError<number>).items).toEqual([0, 1]);
  });

  it("keeps a 404 before the first page as NotFoundError (the repository does not exist)", async () => {
    const { listing } = pages(0, new NotFoundError("no such repository"));
    await expect(collectListing(listing)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("throws a failure of the first page as it is: nothing was yielded", async () => {
    const { listing } = pages(0);
    await expect(collectListing(listing)).rejects.toBeInstanceOf(UnavailableError);
  });

  it("refuses a registry that sends the same next link again instead of stopping quietly", async () => {
    const listing = pagedListing("tags of loop", async () => ({ items: [1], next: "same" }));
    const error = await collectListing(listing).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PartialListingError);
    expect((error as PartialListingError<number>).items).toEqual([1, 1]);
  });
});
