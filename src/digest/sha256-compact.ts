/**
 * SHA-256 for bundles that must stay small (read-only edge workers): the
 * runtime's native hash where it has one (`node:crypto` through
 * `process.getBuiltinModule`; workerd's `crypto.DigestStream`), else a rolled
 * compression function of about 1 KiB minified. sha256-block.ts is the
 * unrolled one, 15 KiB and about twice as fast; uploads use that.
 */
import { createSha256Of, Sha256Core, toHex } from "./sha256-hasher.ts";

/** A streaming SHA-256 whose digest may take a turn of the event loop (workerd's is asynchronous). */
export interface AsyncSha256Hasher {
  update(bytes: Uint8Array): unknown;
  /** Lowercase hex digest; call once, at the end. */
  hexDigest(): string | Promise<string>;
}

/** The first 64 primes, whose cube roots give K (FIPS 180-4 §4.2.2). */
const PRIMES: number[] = [];
for (let n = 2; PRIMES.length < 64; n++) if (PRIMES.every((p) => n % p !== 0)) PRIMES.push(n);
/** The first 32 bits of the fractional part of `x`. */
const fraction32 = (x: number) => ((x - Math.floor(x)) * 2 ** 32) | 0;
const K = Int32Array.from(PRIMES, (p) => fraction32(Math.cbrt(p)));
const W = new Int32Array(64);
const ror = (x: number, n: number) => (x >>> n) | (x << (32 - n));

/** FIPS 180-4 §6.2.2, one round per loop turn. */
function compactBlocks(h: Int32Array, data: Uint8Array, pos: number, end: number): void {
  for (; pos < end; pos += 64) {
    for (let i = 0; i < 16; i++) {
      const at = pos + 4 * i;
      W[i] = (data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15];
      const y = W[i - 2];
      W[i] = (W[i - 16] + (ror(x, 7) ^ ror(x, 18) ^ (x >>> 3)) + W[i - 7] + (ror(y, 17) ^ ror(y, 19) ^ (y >>> 10))) | 0;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
  }
}

/** The portable compact hasher, whatever the runtime offers (tests compare it with the others). */
export function compactSha256(): Sha256Core {
  return new Sha256Core(compactBlocks);
}

type DigestStreamClass = new (algorithm: string) => WritableStream<Uint8Array> & { digest: Promise<ArrayBuffer> };

/** workerd's streaming digest (a Cloudflare extension of WebCrypto), where it exists. */
function digestStreamHasher(): AsyncSha256Hasher | undefined {
  const DigestStream = (globalThis.crypto as { DigestStream?: DigestStreamClass } | undefined)?.DigestStream;
  if (typeof DigestStream !== "function") return undefined;
  const stream = new DigestStream("SHA-256");
  const writer = stream.getWriter();
  const written: Promise<void>[] = [];
  return {
    // A copy: the caller hands the chunk on, and whoever reads it may transfer its buffer before the digest runs.
    update: (bytes) => written.push(writer.write(bytes.slice())),
    async hexDigest() {
      await Promise.all([...written, writer.close()]);
      return toHex(new Uint8Array(await stream.digest));
    },
  };
}

/** A streaming SHA-256 for small bundles: native where the runtime has one, else {@link compactSha256}. */
export function createCompactSha256(): AsyncSha256Hasher {
  return digestStreamHasher() ?? createSha256Of(compactSha256);
}
