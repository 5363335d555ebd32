/**
 * Azure's XML error documents turned into typed errors with advice. Messages name the
 * operation, the key and Azure's code, never a key, signature or SAS token.
 * See https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes
 */
import { BackendError } from "../../util/errors.ts";
import { xmlText } from "../../util/xml.ts";

/** Azure's `<Error><Code>…</Code><Message>…</Message></Error>`, or the `x-ms-error-code` header. */
export function parseAzureError(response: Response, body: string): { code?: string; message?: string } {
  const code = xmlText(body, "Code") ?? response.headers.get("x-ms-error-code") ?? undefined;
  // Azure's message for AuthenticationFailed quotes the string it signed: keep only the first line.
  const message = xmlText(body, "Message")?.split("\n")[0]?.trim();
  return { code, message };
}

const ADVICE: Record<string, string> = {
  AuthenticationFailed: "Check the account key or SAS token (AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING) and that the machine's clock is right.",
  AuthorizationFailure: "Check the account name and account key or SAS token (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING); if they are right, give the SAS token or role the permissions this needs (read, add, create, write, delete, list).",
  AuthorizationPermissionMismatch: "The SAS token lacks a permission this call needs: issue one with racwdl.",
  ContainerNotFound: "Create the container first (az storage container create --name <container>) or fix MODEL_STORE_AZURE_CONTAINER.",
  InvalidAuthenticationInfo: "Check the account name and credentials.",
};

/** A BackendError for an Azure answer that is not a success. */
export function azureError(operation: string, key: string | undefined, response: Response, body: string): BackendError {
  const { code, message } = parseAzureError(response, body);
  const what = key === undefined ? `Azure Blob ${operation}` : `Azure Blob ${operation} of "${key}"`;
  const advice = (code && ADVICE[code]) ?? (response.status >= 500 ? "The service failed; retry later." : "");
  const text = `${what} failed with HTTP ${response.status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}.${advice ? ` ${advice}` : ""}`;
  return new BackendError(text, {
    backend: "azure",
    operation,
    key,
    status: response.status,
    serverCode: code,
    requestId: response.headers.get("x-ms-request-id") ?? undefined,
  });
}
