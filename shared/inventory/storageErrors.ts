import { isRestError } from "@azure/core-rest-pipeline";
import {
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  NotFoundError,
  StewardError,
  ThrottledError,
  UnavailableError,
  ValidationError,
} from "../errors/index.js";

/**
 * Turns an Azure Storage SDK failure into one of our error types (the original stays as `cause`),
 * so nothing above the adapters depends on RestError. `operation` names what we were doing.
 */
export function translateStorageError(error: unknown, operation: string): StewardError {
  if (error instanceof StewardError) return error;
  if (!isRestError(error)) {
    return new UnavailableError(`storage call failed during ${operation}`, { cause: error });
  }
  const status = error.statusCode;
  const context = { operation, status, code: error.code };
  const message = `${operation}: storage answered ${status ?? error.code ?? "nothing"}`;
  switch (status) {
    case undefined:
      return new UnavailableError(`${operation}: storage unreachable (${error.code ?? error.message})`, {
        cause: error,
        context,
      });
    case 400:
      return new ValidationError(`${message} (bad request: ${error.code ?? error.message})`, {
        cause: error,
        context,
      });
    case 401:
      return new AuthenticationError(message, { cause: error, context });
    case 403:
      return new AuthorizationError(message, { cause: error, context });
    case 404:
      return new NotFoundError(message, { cause: error, context });
    case 409:
    case 412:
      return new ConflictError(message, { cause: error, context });
    case 429:
      return new ThrottledError(message, { cause: error, context });
    default:
      if (status === 408 || status >= 500) return new UnavailableError(message, { cause: error, context });
      return new StewardError(message, { cause: error, context });
  }
}

/** The HTTP status of a storage failure, looking through our translation. */
export function storageStatus(error: unknown): number | undefined {
  if (isRestError(error)) return error.statusCode;
  if (error instanceof StewardError && isRestError(error.cause)) return error.cause.statusCode;
  return undefined;
}

/** Times every storage call for the benchmark's share-of-time measurement. */
export type StorageCallObserver = (operation: string, durationMs: number) => void;

export async function observed<T>(
  observer: StorageCallObserver | undefined,
  operation: string,
  call: () => Promise<T>,
): Promise<T> {
  if (!observer) return call();
  const started = performance.now();
  try {
    return await call();
  } finally {
    observer(operation, performance.now() - started);
  }
}
