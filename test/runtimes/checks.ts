/**
 * The runtime smoke suite, written once against WebStreams and the core only,
 * and registered by a thin adapter per runtime (`deno test`, `bun test`, a
 * workerd worker). Every check throws on failure; no runner API in here.
 */
import {
  createArchive,
  createGunzipStream,
  createGzipStream,
  InvalidArchiveError,
  memoryBackend,
  ModelReader,
  ModelStore,
  NotFoundError,
  readArchive,
  RUNTIME_INFO_FILE,
  type Backend,
} from "../../src/index.ts";
import { concatBytes } from "../../src/util/bytes.ts";
import { createSha256 } from "../../src/digest/sha256.ts";
import { httpBackend } from "../../src/http.ts";
import { AwsClient } from "aws4fetch";

/** One named check: resolves when it holds, throws when it does not. */
export interface Check {
  name: string;
  run(): Promise<void>;
}

/** What the runtime under test must report, e.g. `{ name: "deno", label: "deno:2.9.6" }`. */
export interface ExpectedRuntime {
  name: string;
  label: string;
}

/** Where the S3 checks find the test server (the runner starts one and passes these). */
export interface S3Target {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEqual<T>(actual: T, expected: T, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert(actual.byteLength === expected.byteLength, `${what}: ${actual.byteLength} bytes, expected ${expected.byteLength}`);
  for (let i = 0; i < actual.byteLength; i++) {
    if (actual[i] !== expected[i]) throw new Error(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

export async function bytesOf(stream: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  assert(stream, "expected a stream, got null");
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Deterministic incompressible bytes (xorshift32), so archives exercise stored and compressed blocks. */
export function noise(size: number, seed = 0x9e3779b9): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

const encoder = new TextEncoder();
const CONFIG = encoder.encode(JSON.stringify({ architecture: "logistic-regression", classes: 2 }));

/** The model every store check uploads: a JSON file, binary weights, a nested file, an empty file. */
export function sampleModel(weightsSize = 300_000) {
  return {
    config: CONFIG,
    weights: noise(weightsSize),
    vocab: encoder.encode("a\nb\nc\n".repeat(1000)),
    files: () => [
      { path: "config.json", body: CONFIG },
      { path: "weights.bin", body: new Blob([noise(weightsSize)]) },
      { path: "tokenizer/vocab.txt", body: streamOf(encoder.encode("a\nb\nc\n".repeat(1000))), size: 6000 },
      { path: "empty.txt", body: new Uint8Array(0) },
    ],
  };
}

function streamOf(bytes: Uint8Array, chunk = 1000): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

/** Each part as its own chunk. */
function chunksOf(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    pull(controller) {
      if (next >= parts.length) return controller.close();
      controller.enqueue(parts[next++].slice());
    },
  });
}

async function readRuntimeInfo(archive: ReadableStream<Uint8Array>): Promise<{ runtime: { name: string; version: string; platform: string }; modelstore: string }> {
  for await (const entry of readArchive(archive)) {
    if (entry.path === RUNTIME_INFO_FILE) return JSON.parse(await new Response(entry.body).text());
  }
  throw new Error(`the archive holds no ${RUNTIME_INFO_FILE}`);
}

function expectRuntime(info: { runtime: { name: string; version: string } }, expected: ExpectedRuntime): void {
  const label = info.runtime.version ? `${info.runtime.name}:${info.runtime.version}` : info.runtime.name;
  assertEqual(label, expected.label, `${RUNTIME_INFO_FILE} runtime`);
  assertEqual(info.runtime.name, expected.name, `${RUNTIME_INFO_FILE} runtime name`);
}

/** Upload → list → latest → readFile → archive → delete, on any backend. */
export async function storeRoundTrip(store: ModelStore, domain: string, expected: ExpectedRuntime, weightsSize?: number): Promise<void> {
  const model = sampleModel(weightsSize);
  const meta = await store.upload(domain, { files: model.files(), extraMetadata: { accuracy: 0.93 } });
  assertEqual(meta.code.runtime, expected.label, "metadata code.runtime");
  assert(meta.archive.index !== undefined && meta.archive.index.offset + meta.archive.index.length === meta.archive.size, "upload() records the archive's table of contents");
  assert((await store.listDomains()).includes(domain), `listDomains() lacks "${domain}"`);
  assertEqual((await store.listModels(domain)).map((m) => m.model.model_id), [meta.model.model_id], "listModels() ids");

  const latest = await store.getLatest(domain);
  assertEqual(latest.model.model_id, meta.model.model_id, "getLatest() id");
  assertEqual(latest.extra, { accuracy: 0.93 }, "getLatest() extra");
  assertBytesEqual(await bytesOf(await store.readFile(domain, undefined, "config.json")), model.config, "readFile(config.json)");
  assertBytesEqual(await bytesOf(await store.readFile(domain, meta.model.model_id, "weights.bin")), model.weights, "readFile(weights.bin)");
  assertBytesEqual(await bytesOf(await store.readFile(domain, undefined, "tokenizer/vocab.txt")), model.vocab, "readFile(tokenizer/vocab.txt)");
  assertEqual(await store.readFile(domain, undefined, "missing.bin"), null, "readFile() of a missing file");
  assertBytesEqual(await bytesOf(await store.openFile(latest, "config.json")), model.config, "openFile(latest, config.json)");
  assertEqual((await store.listFiles(domain, undefined)).map((f) => f.path).sort(), ["config.json", "empty.txt", RUNTIME_INFO_FILE, "tokenizer/vocab.txt", "weights.bin"].sort(), "listFiles() paths");
  expectRuntime(await readRuntimeInfo(await store.getArchive(domain, meta.model.model_id)), expected);

  await store.deleteModel(domain, meta.model.model_id);
  assertEqual(await store.modelExists(domain, meta.model.model_id), false, "modelExists() after deleteModel()");
  assertEqual(await store.listModels(domain), [], "listModels() after deleteModel()");
  let missing: unknown;
  await store.getLatest(domain).catch((error) => (missing = error));
  assert(missing instanceof NotFoundError, `getLatest() after deleteModel() should throw NotFoundError, got ${String(missing)}`);
}

/** Checks of the core alone (archive and memory store): every runtime runs these. */
export function coreChecks(expected: ExpectedRuntime): Check[] {
  return [
    {
      name: "createArchive → readArchive returns every file byte-identical",
      async run() {
        const model = sampleModel();
        const archive = createArchive({ files: model.files(), extras: [{ path: "notes.md", body: encoder.encode("# notes") }] }, { level: 6 });
        const seen = new Map<string, Uint8Array>();
        for await (const entry of readArchive(archive)) {
          if (entry.type === "file") seen.set(entry.path, new Uint8Array(await new Response(entry.body).arrayBuffer()));
        }
        assertEqual([...seen.keys()].sort(), ["config.json", "empty.txt", "extras/notes.md", RUNTIME_INFO_FILE, "tokenizer/vocab.txt", "weights.bin"].sort(), "archive paths");
        assertBytesEqual(seen.get("config.json")!, model.config, "config.json");
        assertBytesEqual(seen.get("weights.bin")!, model.weights, "weights.bin");
        assertBytesEqual(seen.get("tokenizer/vocab.txt")!, model.vocab, "tokenizer/vocab.txt");
        assertEqual(seen.get("empty.txt")!.byteLength, 0, "empty.txt size");
      },
    },
    {
      name: "deterministic archives are byte-identical across runs, and native-gzip archives read back",
      async run() {
        const model = sampleModel(50_000);
        const first = await bytesOf(createArchive({ files: model.files() }, { deterministic: true }));
        const second = await bytesOf(createArchive({ files: model.files() }, { deterministic: true }));
        assertBytesEqual(second, first, "second deterministic archive");
        // This runtime's own CompressionStream, where it has one (fflate otherwise).
        const native = createArchive({ files: model.files() }, { engine: "native" });
        let weights: Uint8Array | undefined;
        for await (const entry of readArchive(native)) {
          if (entry.path === "weights.bin") weights = new Uint8Array(await new Response(entry.body).arrayBuffer());
        }
        assert(weights, "the native-engine archive has no weights.bin");
        assertBytesEqual(weights, model.weights, "weights.bin from the native-engine archive");
      },
    },
    {
      name: "native gzip (this runtime's zlib where it has one) deflates and stores block after block into reused buffers that read back",
      async run() {
        // Over three 4 MiB blocks of text: each deflated block reuses the output buffer of one before.
        let line = "";
        for (let i = 0; line.length < 13 << 20; i++) line += `{"id":${i},"token":"t${(i * 7919) % 50021}"},\n`;
        const text = encoder.encode(line);
        const gzipped = await bytesOf(streamOf(text, 65_536).pipeThrough(createGzipStream({ engine: "native" })));
        assert(gzipped.length < text.length / 3, `native gzip did not compress text: ${gzipped.length} of ${text.length} bytes`);
        assertBytesEqual(await bytesOf(chunksOf([gzipped]).pipeThrough(createGunzipStream({ engine: "fflate" }))), text, "text through native gzip");
        // And three blocks of weights, stored as views of block buffers that must not be refilled
        // before they are read, while the text's buffers are refilled as soon as zlib is done.
        const weights = noise(12 << 20, 11);
        const archive = createArchive({ files: [{ path: "vocab.txt", body: text }, { path: "weights.bin", body: weights }] }, { engine: "native" });
        const reader = archive.getReader({ mode: "byob" });
        const parts: Uint8Array[] = [];
        for (;;) {
          const { done, value } = await reader.read(new Uint8Array(100_000));
          if (done) break;
          parts.push(value);
        }
        let vocab: Uint8Array | undefined;
        let stored: Uint8Array | undefined;
        for await (const entry of readArchive(chunksOf(parts))) {
          if (entry.path === "vocab.txt") vocab = new Uint8Array(await new Response(entry.body).arrayBuffer());
          if (entry.path === "weights.bin") stored = new Uint8Array(await new Response(entry.body).arrayBuffer());
        }
        assert(vocab, "the native-engine archive has no vocab.txt");
        assertBytesEqual(vocab, text, "vocab.txt from a native-engine archive read by a BYOB reader");
        assert(stored, "the native-engine archive has no weights.bin");
        assertBytesEqual(stored, weights, "weights.bin from a native-engine archive read by a BYOB reader");
      },
    },
    {
      name: "gunzip (this runtime's zlib where it has one) reads members and zero padding, and rejects what follows them or a cut",
      async run() {
        const text = encoder.encode("a line of a tokenizer vocabulary\n".repeat(40_000));
        const member = await bytesOf(streamOf(text, 65_536).pipeThrough(createGzipStream({ engine: "fflate" })));
        const decode = (parts: Uint8Array[]) => bytesOf(chunksOf(parts).pipeThrough(createGunzipStream()));
        assertBytesEqual(await decode([member, member]), concatBytes([text, text]), "two members");
        // Padding in its own chunks: a decoder that stops at the end of the member still sees them.
        const zeros = new Uint8Array(300_000);
        assertBytesEqual(await decode([member, zeros, zeros]), text, "zero padding");
        for (const [what, parts] of [
          ["data after the padding", [member, zeros, encoder.encode("x")]],
          ["a cut member", [member.subarray(0, member.length - 5)]],
        ] as const) {
          const error = await decode([...parts]).then(() => undefined, (e: unknown) => e);
          assert(error instanceof InvalidArchiveError, `${what} was not refused with InvalidArchiveError: ${String(error)}`);
        }
      },
    },
    {
      name: "runtime-info.json in a new archive names this runtime and its version",
      async run() {
        const info = await readRuntimeInfo(createArchive({ files: [{ path: "a.txt", body: encoder.encode("a") }] }));
        expectRuntime(info, expected);
        assert(info.modelstore.length > 0, "runtime-info.json lacks the library version");
      },
    },
    {
      name: "a model uploaded to the memory backend is listed, latest, readable file by file, and gone after deleteModel()",
      run: () => storeRoundTrip(new ModelStore({ backend: memoryBackend() }), "customer-refunds", expected),
    },
    {
      name: "ModelReader reads what ModelStore uploaded: latest, a file of several gzip members (DecompressionStream per member), part of it, listFiles",
      async run() {
        const backend = memoryBackend();
        const model = sampleModel(9 * 1024 * 1024 + 5);
        const meta = await new ModelStore({ backend }).upload("readers", { files: model.files() });
        const reader = new ModelReader({ backend });
        assertEqual((await reader.getLatest("readers")).model.model_id, meta.model.model_id, "ModelReader.getLatest() id");
        assertBytesEqual(await bytesOf(await reader.readFile("readers", undefined, "weights.bin")), model.weights, "ModelReader.readFile(weights.bin)");
        assertBytesEqual(await bytesOf(await reader.readFile("readers", undefined, "config.json")), model.config, "ModelReader.readFile(config.json)");
        const part = await reader.readFile("readers", meta.model.model_id, "weights.bin", { range: { offset: 4_000_000, length: 1_000_000 } });
        assertBytesEqual(await bytesOf(part), model.weights.subarray(4_000_000, 5_000_000), "ModelReader.readFile(weights.bin, a range across members)");
        assertEqual((await reader.listFiles("readers", undefined)).map((f) => f.path).sort(), ["config.json", "empty.txt", RUNTIME_INFO_FILE, "tokenizer/vocab.txt", "weights.bin"].sort(), "ModelReader.listFiles() paths");
        assertEqual(await reader.readFile("readers", undefined, "missing.bin"), null, "ModelReader.readFile() of a missing file");
      },
    },
  ];
}

/**
 * Checks of the S3 backend against the runner's S3 server. Takes the backend
 * factory so the core checks above never import the S3 entry point.
 */
export function s3Checks(target: S3Target | undefined, makeBackend: (target: S3Target) => Backend, expected: ExpectedRuntime): Check[] {
  const prefix = `rt-${expected.name}-${Date.now().toString(36)}`;
  const needTarget = (): S3Target => {
    assert(target, "No S3 server: run the runtime suites with `npm run test:runtimes`, which starts one and sets S3_ENDPOINT and S3_BUCKET.");
    return target;
  };
  return [
    {
      name: "a model uploaded to S3 is listed, latest, readable file by file, and gone after deleteModel()",
      async run() {
        const backend = makeBackend(needTarget());
        assertEqual(backend.name, "s3", "backend name");
        // Over one 5 MiB part, so the archive goes up as a multipart upload.
        await storeRoundTrip(new ModelStore({ backend, rootPrefix: prefix }), "s3-refunds", expected, 6 * 1024 * 1024);
      },
    },
    {
      name: "the S3 backend reads byte ranges, lists by prefix and treats a missing key as null",
      async run() {
        const backend = makeBackend(needTarget());
        const body = noise(10_000, 7);
        await backend.put(`${prefix}/raw/a.bin`, body);
        assertBytesEqual(await bytesOf(await backend.get(`${prefix}/raw/a.bin`, { range: { offset: 100, length: 50 } })), body.slice(100, 150), "ranged get");
        const keys: string[] = [];
        for await (const object of backend.list(`${prefix}/raw/`)) keys.push(object.key);
        assertEqual(keys, [`${prefix}/raw/a.bin`], "list()");
        await backend.delete(`${prefix}/raw/a.bin`);
        assertEqual(await backend.get(`${prefix}/raw/a.bin`), null, "get() after delete()");
        assertEqual(await backend.head(`${prefix}/raw/a.bin`), null, "head() after delete()");
      },
    },
    {
      name: "a signed URL downloads the archive with a plain fetch, and the public HTTP backend reads the model once the container is public",
      async run() {
        const s3 = needTarget();
        const store = new ModelStore({ backend: makeBackend(s3), rootPrefix: `${prefix}-public` });
        const model = sampleModel(50_000);
        const meta = await store.upload("public-refunds", { files: model.files() });
        const signed = await store.signedUrl("public-refunds", undefined, { expiresIn: 300 });
        const response = await fetch(signed.url);
        assertEqual(response.status, 200, "GET of the signed URL");
        const hash = createSha256();
        hash.update(new Uint8Array(await response.arrayBuffer()));
        assertEqual(hash.hexDigest(), meta.archive.sha256, "sha256 of the signed URL's bytes");
        // Swift: a public-read container (S3's canned ACL) is read anonymously at its Swift URL.
        const client = new AwsClient({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region, service: "s3" });
        const acl = await client.fetch(`${s3.endpoint}/${s3.bucket}?acl`, { method: "PUT", headers: { "x-amz-acl": "public-read" } });
        assert(acl.ok, `PutBucketAcl answered ${acl.status}`);
        const account = `AUTH_${s3.accessKeyId.split(":")[0]}`;
        const reader = new ModelStore({ backend: httpBackend({ baseUrl: `${s3.endpoint}/v1/${account}/${s3.bucket}` }), rootPrefix: `${prefix}-public` });
        assertEqual((await reader.getLatest("public-refunds")).model.model_id, meta.model.model_id, "getLatest over public HTTP");
        assertBytesEqual(await bytesOf(await reader.readFile("public-refunds", meta.model.model_id, "config.json")), model.config, "config.json over public HTTP");
      },
    },
  ];
}

/** `s3Backend` options for a target, with 5 MiB parts so a small test model still goes multipart. */
export function s3Options(target: S3Target) {
  return {
    bucket: target.bucket,
    endpoint: target.endpoint,
    region: target.region,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    partSize: 5 * 1024 * 1024,
  };
}

/** The S3 target from `S3_*` variables (as set by test/runtimes/run.mjs), or undefined. */
export function s3TargetFromEnv(env: Record<string, string | undefined>): S3Target | undefined {
  if (!env.S3_ENDPOINT || !env.S3_BUCKET) return undefined;
  return {
    endpoint: env.S3_ENDPOINT,
    bucket: env.S3_BUCKET,
    region: env.S3_REGION ?? "us-east-1",
    accessKeyId: env.S3_ACCESS_KEY_ID ?? "test:tester",
    secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "testing",
  };
}
