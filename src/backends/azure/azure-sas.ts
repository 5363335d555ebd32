/**
 * Service SAS for one blob, signed with the account key on WebCrypto: a read-only
 * (`sp=r`), HTTPS-or-HTTP, time-limited URL that anyone can GET without credentials.
 * The URL is a bearer credential: it is handed to the caller and never put in a message.
 * @see https://learn.microsoft.com/rest/api/storageservices/create-service-sas
 */
import type { SignedUrlOptions } from "../backend.ts";
import { expiresInSeconds } from "../expires-in.ts";
import { NotSupportedError } from "../../util/errors.ts";
import type { SharedKeySigner } from "./azure-auth.ts";

/** The SAS version (`sv`); its string-to-sign has the 16 fields of version 2020-12-06 and later. */
export const SAS_VERSION = "2022-11-02";

/** Azure wants ISO-8601 UTC times without milliseconds in `se`/`st`. */
function sasTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * `blobUrl` (the blob's URL without a query) with a read-only service SAS valid until
 * `expiresIn` seconds from now. `st` is set a minute back, so a client whose clock runs
 * slightly behind the service's can use the URL at once.
 */
export async function signedBlobUrl(
  signer: SharedKeySigner | undefined,
  account: string,
  container: string,
  key: string,
  blobUrl: URL,
  options: SignedUrlOptions,
): Promise<string> {
  const expiresIn = expiresInSeconds(options);
  if (!signer) {
    throw new NotSupportedError(
      `Azure signed URLs are signed with the account key, and this backend was given only a SAS token. Pass accountKey (or a connection string with AccountKey) to sign URLs, or issue a read SAS for "${key}" yourself.`,
    );
  }
  const now = Date.now();
  const start = sasTime(new Date(now - 60_000));
  const expiry = sasTime(new Date(now + expiresIn * 1000));
  const permissions = "r";
  const resource = "b";
  // Fields: sp, st, se, canonicalized resource, si, sip, spr, sv, sr, snapshot time,
  // ses, rscc, rscd, rsce, rscl, rsct; the unused ones are empty lines.
  const stringToSign = [permissions, start, expiry, `/blob/${account}/${container}/${key}`, "", "", "", SAS_VERSION, resource, "", "", "", "", "", "", ""].join("\n");
  const signature = await signer.signText(stringToSign);
  const url = new URL(blobUrl);
  url.search = "";
  const params = new URLSearchParams({ sv: SAS_VERSION, st: start, se: expiry, sr: resource, sp: permissions, sig: signature });
  url.search = params.toString();
  return url.toString();
}
