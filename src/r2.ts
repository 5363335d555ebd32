/**
 * `modelstore-js/r2`: models in Cloudflare R2 through a Worker's bucket
 * binding, with no keys in code.
 * @module
 */
export { r2Backend, R2_STORAGE_TYPE, type R2Backend, type R2BackendOptions, type R2BucketBinding } from "./backends/r2/r2.ts";
