/**
 * Presigned GET URLs: SigV4 in the query string (aws4fetch's `signQuery`), so anyone
 * holding the URL can download one object until `X-Amz-Expires` runs out, with no
 * credentials of their own. The URL carries a signature: it is returned to the caller
 * and never put in a message or log.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */
import { AwsV4Signer } from "aws4fetch";
import type { SignedUrlOptions } from "../backend.ts";
import { expiresInSeconds } from "../expires-in.ts";
import { throwIfAborted } from "../../util/errors.ts";
import { credentialsError } from "./s3-errors.ts";
import type { ResolvedS3Options } from "./s3-options.ts";
import { checkKey, type S3Transport } from "./s3-transport.ts";

/** A presigned GetObject URL for `key`, valid for `options.expiresIn` seconds from now. */
export async function presignGet(transport: S3Transport, options: ResolvedS3Options, key: string, signOptions: SignedUrlOptions): Promise<string> {
  checkKey(key);
  const expiresIn = expiresInSeconds(signOptions);
  throwIfAborted(signOptions.signal);
  const url = new URL(transport.url(key));
  url.searchParams.set("X-Amz-Expires", String(expiresIn));
  let credentials;
  try {
    credentials = await options.credentials();
  } catch (error) {
    throw credentialsError({ operation: "GetObject", bucket: options.bucket, key }, error);
  }
  if (!credentials?.accessKeyId || !credentials.secretAccessKey) {
    throw credentialsError({ operation: "GetObject", bucket: options.bucket, key }, new Error("it returned no accessKeyId or secretAccessKey"));
  }
  const signer = new AwsV4Signer({
    method: "GET",
    url: url.toString(),
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    service: "s3",
    region: options.region,
    signQuery: true,
  });
  return (await signer.sign()).url.toString();
}
