/** `modelstore-js/azure`: the Azure Blob Storage backend. */
export { azureBackend, AZURE_STORAGE_TYPE, type AzureBackend, type AzureBackendOptions } from "./backends/azure/azure.ts";
export { azureBackendFromEnv } from "./backends/azure/azure-env.ts";
