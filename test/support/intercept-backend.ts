/**
 * Views of a real backend whose puts pass through `intercept` first: how tests
 * make a write hang or a process die at one exact key. Every other call goes
 * straight to the backend (bound, so classes with private fields work).
 */
import type { Backend, PutOptions } from "../../src/backends/backend.ts";

type Put = Backend["put"];

export function interceptPuts(backend: Backend, intercept: (key: string, put: () => ReturnType<Put>) => ReturnType<Put>): Backend {
  return overriding(backend, { put: (key: string, body: Parameters<Put>[1], options?: PutOptions) => intercept(key, () => backend.put(key, body, options)) });
}

/** A view of a real backend with some methods replaced; every other call goes straight to it, bound. */
export function overriding(backend: Backend, overrides: Partial<Pick<Backend, "get" | "put" | "list" | "head" | "delete">>): Backend {
  return {
    name: backend.name,
    get capabilities() {
      return backend.capabilities;
    },
    get: backend.get.bind(backend),
    head: backend.head.bind(backend),
    delete: backend.delete.bind(backend),
    list: backend.list.bind(backend),
    listPrefixes: backend.listPrefixes.bind(backend),
    resolveCapabilities: backend.resolveCapabilities?.bind(backend),
    collectGarbage: backend.collectGarbage?.bind(backend),
    locate: backend.locate?.bind(backend),
    keyOf: backend.keyOf?.bind(backend),
    put: backend.put.bind(backend),
    ...overrides,
  };
}
