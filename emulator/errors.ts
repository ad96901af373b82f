/**
 * The error codes and statuses registries answer with (OCI distribution spec plus the ACR-specific ones),
 * and one error type that every route throws so that the server renders a single body shape:
 * `{"errors":[{"code","message","detail"}]}`.
 */

export const RegistryErrorCode = {
  blobUnknown: "BLOB_UNKNOWN",
  blobUploadInvalid: "BLOB_UPLOAD_INVALID",
  blobUploadUnknown: "BLOB_UPLOAD_UNKNOWN",
  digestInvalid: "DIGEST_INVALID",
  manifestBlobUnknown: "MANIFEST_BLOB_UNKNOWN",
  manifestInvalid: "MANIFEST_INVALID",
  manifestUnknown: "MANIFEST_UNKNOWN",
  nameInvalid: "NAME_INVALID",
  nameUnknown: "NAME_UNKNOWN",
  sizeInvalid: "SIZE_INVALID",
  tagInvalid: "TAG_INVALID",
  tagUnknown: "TAG_UNKNOWN",
  paginationNumberInvalid: "PAGINATION_NUMBER_INVALID",
  rangeInvalid: "RANGE_INVALID",
  unauthorized: "UNAUTHORIZED",
  denied: "DENIED",
  unsupported: "UNSUPPORTED",
  tooManyRequests: "TOOMANYREQUESTS",
  /** What ACR answers when a lock (`deleteEnabled`/`writeEnabled`/`readEnabled: false`) forbids the operation. */
  disallowedOperation: "REGISTRY_DISALLOWED_OPERATION",
  badRequest: "BAD_REQUEST",
  internal: "UNKNOWN",
} as const;

export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
    readonly detail?: unknown,
    /** Extra response headers (Retry-After, WWW-Authenticate, Content-Range...). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "RegistryError";
  }

  toBody(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const entry: { code: string; message: string; detail?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** The message ACR uses for every lock refusal; clients match on it. */
export const DISALLOWED_MESSAGE =
  "The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation";

export const errors = {
  nameUnknown: (name: string) =>
    new RegistryError(404, RegistryErrorCode.nameUnknown, "repository name not known to registry", { name }),
  nameInvalid: (name: string) =>
    new RegistryError(400, RegistryErrorCode.nameInvalid, "invalid repository name", { name }),
  manifestUnknown: (reference: string) =>
    new RegistryError(404, RegistryErrorCode.manifestUnknown, "manifest unknown", { reference }),
  tagUnknown: (tag: string) =>
    new RegistryError(404, RegistryErrorCode.tagUnknown, "the specified tag does not exist", { tag }),
  blobUnknown: (digest: string) =>
    new RegistryError(404, RegistryErrorCode.blobUnknown, "blob unknown to registry", { digest }),
  uploadUnknown: (uuid: string) =>
    new RegistryError(404, RegistryErrorCode.blobUploadUnknown, "blob upload unknown to registry", { uuid }),
  digestInvalid: (message: string, digest?: string) =>
    new RegistryError(
      400,
      RegistryErrorCode.digestInvalid,
      message,
      digest === undefined ? undefined : { digest },
    ),
  manifestBlobUnknown: (digest: string) =>
    new RegistryError(400, RegistryErrorCode.manifestBlobUnknown, "blob unknown to registry", { digest }),
  manifestInvalid: (reason: string) =>
    new RegistryError(400, RegistryErrorCode.manifestInvalid, "manifest invalid", { reason }),
  disallowed: (what: string) =>
    new RegistryError(405, RegistryErrorCode.disallowedOperation, DISALLOWED_MESSAGE, { locked: what }),
  unsupported: (message = "The operation is unsupported.") =>
    new RegistryError(405, RegistryErrorCode.unsupported, message),
  badRequest: (code: RegistryErrorCode, message: string, detail?: unknown) =>
    new RegistryError(400, code, message, detail),
};
