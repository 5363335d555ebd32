/** `modelstore-js/http`: the read-only public HTTP backend (public buckets, CDNs, static hosts), no credentials. */
export { httpBackend, type HttpBackend, type HttpBackendOptions } from "./backends/http/http.ts";
