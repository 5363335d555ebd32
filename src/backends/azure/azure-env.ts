/**
 * An Azure backend from environment variables, as the Python modelstore reads them
 * (`MODEL_STORE_AZURE_CONTAINER`, `AZURE_STORAGE_CONNECTION_STRING`) and as Azure's
 * tools do (`AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN`).
 */
import { InvalidArgumentError } from "../../util/errors.ts";
import { azureBackend, type AzureBackend, type AzureBackendOptions } from "./azure.ts";

/** Builds an {@link AzureBackend} from `env`; `overrides` win. */
export function azureBackendFromEnv(
  env: Record<string, string | undefined> = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {},
  overrides: Partial<AzureBackendOptions> = {},
): AzureBackend {
  const container = overrides.container ?? env.MODEL_STORE_AZURE_CONTAINER;
  if (!container) throw new InvalidArgumentError("Set MODEL_STORE_AZURE_CONTAINER to the Azure container that holds the model store.");
  const connectionString = overrides.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
  const options: AzureBackendOptions = connectionString
    ? { container, connectionString }
    : {
        container,
        account: env.AZURE_STORAGE_ACCOUNT,
        accountKey: env.AZURE_STORAGE_KEY,
        sasToken: env.AZURE_STORAGE_SAS_TOKEN,
      };
  if (!connectionString && !options.account && !overrides.endpoint) {
    throw new InvalidArgumentError("Set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN.");
  }
  return azureBackend({ ...options, ...overrides, container });
}

/** `MODEL_STORE_AZURE_ROOT_PREFIX`: the folder inside the container that holds the store, if any. */
export function azureRootPrefix(env: Record<string, string | undefined>): string | undefined {
  return env.MODEL_STORE_AZURE_ROOT_PREFIX || undefined;
}
