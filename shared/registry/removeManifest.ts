import { GuardError, ValidationError } from "../errors/index.js";
import { formatReference, type ImageReference } from "./imageReference.js";
import type { ManifestDetails, Registry } from "./registry.js";

/**
 * Removes an image by hand: either one tag (`untag`), or the whole manifest with every tag on it. The
 * manifest is inspected first so that the confirmation shows what will go, and a locked manifest is
 * refused here with a clear message instead of a registry error.
 */
export interface RemovalPlan {
  readonly mode: "untag" | "delete";
  readonly reference: ImageReference;
  readonly details: ManifestDetails;
  /** Tags that disappear with this action. */
  readonly tagsRemoved: readonly string[];
}

export interface RemovalResult extends RemovalPlan {
  readonly outcome: "removed" | "declined";
}

export async function removeManifest(
  registry: Registry,
  reference: ImageReference,
  options: { readonly untag: boolean; readonly confirm: (plan: RemovalPlan) => Promise<boolean> },
): Promise<RemovalResult> {
  if (options.untag && reference.tag === undefined) {
    throw new ValidationError(`--untag needs a tag: ${formatReference(reference)} names a digest only`);
  }
  const details = await registry.inspect(reference);
  if (!options.untag && details.locks !== undefined && !details.locks.deleteEnabled) {
    throw new GuardError(
      `${formatReference(reference)} (${details.digest}) is locked: deleteEnabled is false. Unlock it first with 'acr-steward unlock ${formatReference(reference)}' if it really must go.`,
    );
  }
  if (options.untag && details.locks !== undefined && !details.locks.writeEnabled) {
    throw new GuardError(
      `${formatReference(reference)} is locked: writeEnabled is false, so its tags cannot change. Unlock it first with 'acr-steward unlock ${formatReference(reference)}'.`,
    );
  }
  const plan: RemovalPlan = {
    mode: options.untag ? "untag" : "delete",
    reference,
    details,
    tagsRemoved: options.untag ? [reference.tag as string] : details.tags,
  };
  if (!(await options.confirm(plan))) return { ...plan, outcome: "declined" };
  if (options.untag) await registry.untag(reference.repository, reference.tag as string);
  else await registry.deleteManifest(reference.repository, details.digest);
  return { ...plan, outcome: "removed" };
}
