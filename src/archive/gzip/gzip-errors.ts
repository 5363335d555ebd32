/** The typed errors of gzip decoding, shared by the fflate and native decoders. */
import { InvalidArchiveError } from "../../util/errors.ts";

/** The input ended inside a gzip member. */
export function truncated(cause?: unknown): InvalidArchiveError {
  return new InvalidArchiveError(
    "truncated gzip stream: the data ends inside a gzip member, so the archive is incomplete. Upload or download it again.",
    { cause },
  );
}

/** The input is not valid gzip; `what` says where it went wrong. */
export function corrupt(what: string, cause?: unknown): InvalidArchiveError {
  return new InvalidArchiveError(`corrupt gzip data (${what}): the archive is damaged; upload it again.`, { cause });
}

/** Maps an error of the runtime's zlib to ours by its message, which names the check that failed. */
export function zlibError(error: Error & { code?: string }): InvalidArchiveError {
  if (error.code === "Z_BUF_ERROR") return truncated(error);
  if (/incorrect data check/.test(error.message)) return corrupt("CRC-32 mismatch", error);
  if (/incorrect length check/.test(error.message)) return corrupt("length mismatch", error);
  if (/incorrect header check|unknown compression method/.test(error.message)) return corrupt("bad gzip member header", error);
  return corrupt(error.message, error);
}
