/**
 * Typed errors. Every error the library throws is a {@link ModelStoreError}
 * with a string `code`, so callers can branch on `err.code` without
 * `instanceof` across bundle copies. Messages say what failed and what to do.
 */

/** The string codes a {@link ModelStoreError} can carry. */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_ARCHIVE"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "INTEGRITY"
  | "CONFLICT"
  | "ABORTED"
  | "BACKEND"
  | "NOT_SUPPORTED";

/** Base class of every error thrown by modelstore. */
export class ModelStoreError extends Error {
  /** Stable machine-readable reason, e.g. `"NOT_FOUND"`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller passed something unusable: a bad name, a missing size, a wrong option. */
export class InvalidArgumentError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_ARGUMENT", message, options);
  }
}

/** A tar or gzip stream is malformed, truncated, or hostile (e.g. escapes its target directory). */
export class InvalidArchiveError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_ARCHIVE", message, options);
  }
}

/** A domain, model or file does not exist. */
export class NotFoundError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NOT_FOUND", message, options);
  }
}

/** A create-only write found something already there (a model id, an archive key). */
export class AlreadyExistsError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ALREADY_EXISTS", message, options);
  }
}

/** Bytes did not match what was promised: a declared size, a recorded sha256. */
export class IntegrityError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INTEGRITY", message, options);
  }
}

/** A compare-and-swap write lost a race: the object changed since it was read. */
export class ConflictError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFLICT", message, options);
  }
}

/** The caller's `AbortSignal` fired. */
export class AbortedError extends ModelStoreError {
  constructor(message = "The operation was aborted.", options?: { cause?: unknown }) {
    super("ABORTED", message, options);
  }
}

/** A backend cannot do what was asked (e.g. conditional writes on a server that answers 501). */
export class NotSupportedError extends ModelStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NOT_SUPPORTED", message, options);
  }
}

/** Context a storage backend attaches to a failure. Never holds credentials or signed URLs. */
export interface BackendErrorDetails {
  /** The backend's name: `"s3"`, `"fs"`, `"memory"`. */
  backend: string;
  /** What was being done: `"GET"`, `"PUT"`, `"rename"`... */
  operation?: string;
  /** The object key involved, if any. */
  key?: string;
  /** HTTP status for network backends. */
  status?: number;
  /** The server's own error code, e.g. S3's `"SignatureDoesNotMatch"` or an errno like `"EACCES"`. */
  serverCode?: string;
  /** The server's request id, for support tickets. */
  requestId?: string;
}

/** A storage backend failed. Carries status, operation, key and request id for diagnosis. */
export class BackendError extends ModelStoreError {
  readonly backend: string;
  readonly operation?: string;
  readonly key?: string;
  readonly status?: number;
  readonly serverCode?: string;
  readonly requestId?: string;

  constructor(message: string, details: BackendErrorDetails, options?: { cause?: unknown }) {
    super("BACKEND", message, options);
    this.backend = details.backend;
    this.operation = details.operation;
    this.key = details.key;
    this.status = details.status;
    this.serverCode = details.serverCode;
    this.requestId = details.requestId;
  }
}

/** True when `error` is a {@link ModelStoreError} with one of `codes`. */
export function hasErrorCode(error: unknown, ...codes: string[]): boolean {
  return error instanceof ModelStoreError && codes.includes(error.code);
}

/** The {@link AbortedError} for a fired `signal`. */
export function abortedError(signal: AbortSignal): AbortedError {
  return new AbortedError("The operation was aborted by its AbortSignal; nothing further was written.", { cause: signal.reason });
}

/** Throws {@link AbortedError} if `signal` has fired; call between parts and entries. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}
