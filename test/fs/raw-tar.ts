/**
 * Hand-built tar archives for hostile-input tests: headers are written byte by
 * byte (POSIX ustar layout, https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06)
 * so a test can say exactly what a malicious archive contains.
 */

/** One raw entry. `type`: "0" file, "1" hard link, "2" symlink, "5" directory. */
export interface RawEntry {
  name: string;
  type?: "0" | "1" | "2" | "5";
  body?: string | Uint8Array;
  linkname?: string;
  mode?: number;
  /** Seconds since the epoch. @default 1_700_000_000 */
  mtime?: number;
  /** Adds this to the header checksum, to forge a corrupt header. */
  checksumError?: number;
}

const encoder = new TextEncoder();

function put(header: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new Error(`${value} does not fit in ${length} bytes`);
  header.set(bytes, offset);
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, "0")}\0`;
}

/** The 512-byte ustar header for `entry`, with a correct checksum unless asked otherwise. */
export function rawHeader(entry: RawEntry, size: number): Uint8Array {
  const header = new Uint8Array(512);
  put(header, 0, 100, entry.name);
  put(header, 100, 8, octal(entry.mode ?? (entry.type === "5" ? 0o755 : 0o644), 8));
  put(header, 108, 8, octal(0, 8));
  put(header, 116, 8, octal(0, 8));
  put(header, 124, 12, octal(size, 12));
  put(header, 136, 12, octal(entry.mtime ?? 1_700_000_000, 12));
  put(header, 148, 8, "        "); // checksum is computed with its own field as spaces
  put(header, 156, 1, entry.type ?? "0");
  put(header, 157, 100, entry.linkname ?? "");
  put(header, 257, 6, "ustar\0");
  put(header, 263, 2, "00");
  const sum = header.reduce((a, b) => a + b, 0) + (entry.checksumError ?? 0);
  put(header, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return header;
}

/** A whole tar: each header, its body padded to 512 bytes, then two zero blocks (unless `end` is false). */
export function rawTar(entries: RawEntry[], options: { end?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const body = typeof entry.body === "string" ? encoder.encode(entry.body) : (entry.body ?? new Uint8Array());
    parts.push(rawHeader(entry, body.length), body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  if (options.end !== false) parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Bytes as a web stream, as a backend would hand them over. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
}
