/**
 * Azure Storage credentials and request signing on WebCrypto: SharedKey with the
 * account key (HMAC-SHA256 over the canonical request), SAS tokens appended to the
 * URL, and connection strings including `UseDevelopmentStorage=true` (Azurite).
 * See https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
 */
import { InvalidArgumentError } from "../../util/errors.ts";

/** Azurite's published development account and key (not a secret). */
export const DEV_ACCOUNT = "devstoreaccount1";
/** Azurite's well-known development key, documented by Microsoft for the emulator. */
export const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** What signs a request: an account key, a SAS token, or nothing (public containers). */
export interface AzureCredentials {
  account: string;
  accountKey?: string;
  sasToken?: string;
  /** `https://<account>.blob.core.windows.net` or Azurite's `http://127.0.0.1:10000/devstoreaccount1`. */
  endpoint: string;
}

/** Parses an Azure Storage connection string (`AccountName=...;AccountKey=...;BlobEndpoint=...`). */
export function parseConnectionString(connectionString: string): AzureCredentials {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  if (fields.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    const proxy = fields.get("developmentstorageproxyuri");
    const base = proxy ? proxy.replace(/\/+$/, "") : "http://127.0.0.1";
    return { account: DEV_ACCOUNT, accountKey: DEV_KEY, endpoint: `${base}:10000/${DEV_ACCOUNT}` };
  }
  const account = fields.get("accountname");
  const sas = fields.get("sharedaccesssignature");
  let endpoint = fields.get("blobendpoint");
  if (!endpoint) {
    if (!account) {
      throw new InvalidArgumentError("The Azure connection string has neither AccountName nor BlobEndpoint. Copy it whole from the portal (Storage account → Access keys).");
    }
    const protocol = fields.get("defaultendpointsprotocol") ?? "https";
    const suffix = fields.get("endpointsuffix") ?? "core.windows.net";
    endpoint = `${protocol}://${account}.blob.${suffix}`;
  }
  const accountKey = fields.get("accountkey");
  if (!accountKey && !sas) {
    throw new InvalidArgumentError("The Azure connection string has neither AccountKey nor SharedAccessSignature.");
  }
  return { account: account ?? accountFromEndpoint(endpoint), accountKey, sasToken: sas, endpoint: endpoint.replace(/\/+$/, "") };
}

/** The account name in `https://<account>.blob...` or a path-style `http://host:port/<account>`. */
export function accountFromEndpoint(endpoint: string): string {
  const url = new URL(endpoint);
  const first = url.pathname.split("/").filter(Boolean)[0];
  if (first) return first;
  return url.hostname.split(".")[0] ?? "";
}

const encoder = new TextEncoder();

function base64Decode(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Base64 of bytes, for block ids and signatures. */
export function base64Encode(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Signs requests with SharedKey; the imported key never leaves WebCrypto. */
export class SharedKeySigner {
  private readonly key: Promise<CryptoKey>;

  constructor(private readonly account: string, accountKey: string) {
    let raw: Uint8Array;
    try {
      raw = base64Decode(accountKey);
    } catch (cause) {
      throw new InvalidArgumentError("The Azure account key is not valid base64. Copy key1 or key2 from the portal (Storage account → Access keys).", { cause });
    }
    this.key = crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  }

  /** Adds `Authorization: SharedKey account:signature` for this method, URL, headers and body length. */
  async sign(method: string, url: URL, headers: Headers, contentLength: number): Promise<void> {
    const h = (name: string) => headers.get(name) ?? "";
    const msHeaders = [...headers.keys()].filter((n) => n.startsWith("x-ms-")).sort();
    const canonicalHeaders = msHeaders.map((n) => `${n}:${h(n).trim()}\n`).join("");
    // The resource is /<account><path> even on path-style endpoints whose path starts with the account.
    let resource = `/${this.account}${url.pathname}`;
    const params = new Map<string, string[]>();
    for (const [name, value] of url.searchParams) {
      const lower = name.toLowerCase();
      params.set(lower, [...(params.get(lower) ?? []), value]);
    }
    for (const name of [...params.keys()].sort()) resource += `\n${name}:${params.get(name)!.sort().join(",")}`;
    const stringToSign = [
      method,
      h("content-encoding"),
      h("content-language"),
      contentLength > 0 ? String(contentLength) : "",
      h("content-md5"),
      h("content-type"),
      "", // Date: x-ms-date is sent instead.
      h("if-modified-since"),
      h("if-match"),
      h("if-none-match"),
      h("if-unmodified-since"),
      h("range"),
    ].join("\n") + "\n" + canonicalHeaders + resource;
    headers.set("authorization", `SharedKey ${this.account}:${await this.signText(stringToSign)}`);
  }

  /** Base64 HMAC-SHA256 of `stringToSign` with the account key: SharedKey's and SAS's signature. */
  async signText(stringToSign: string): Promise<string> {
    const signature = await crypto.subtle.sign("HMAC", await this.key, encoder.encode(stringToSign));
    return base64Encode(new Uint8Array(signature));
  }
}
