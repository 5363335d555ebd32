/** The one check of a signed URL's lifetime, shared by every backend that signs URLs. */
import { InvalidArgumentError } from "../util/errors.ts";
import type { SignedUrlOptions } from "./backend.ts";

/**
 * The longest lifetime a signed URL may have, in seconds: 7 days, SigV4's limit for
 * presigned URLs (`X-Amz-Expires`), kept for Azure SAS too so the two behave alike.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */
export const MAX_EXPIRES_IN = 7 * 24 * 60 * 60;

/** `options.expiresIn` when it is a whole number of seconds from 1 to 7 days; else {@link InvalidArgumentError}. */
export function expiresInSeconds(options: SignedUrlOptions | undefined): number {
  const value = options?.expiresIn;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_EXPIRES_IN) {
    throw new InvalidArgumentError(
      `signedUrl: \`expiresIn\` must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN} (7 days), got ${JSON.stringify(value)}. Pass e.g. { expiresIn: 900 } for 15 minutes.`,
    );
  }
  return value;
}
