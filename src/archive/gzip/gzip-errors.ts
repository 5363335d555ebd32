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
