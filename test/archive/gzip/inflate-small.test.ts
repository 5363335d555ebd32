/**
 * Small members inflated with fflate (inflate-small.ts): the same bytes as
 * zlib, and every lie refused: a member that inflates to more or fewer bytes
 * than its index gives, a wrong CRC-32 or length, a member that is not gzip.
 */
import { gzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { inflateSmall, smallEnough } from "../../../src/archive/gzip/inflate-small.ts";
import { text } from "../../support/bytes.ts";

const WHAT = "The test range";
const one = text('{"threshold": 0.5, "labels": ["refund", "keep"]}\n'.repeat(20));
const two = text("token\\n".repeat(300));

function membersOf(...inputs: Uint8Array[]) {
  const parts = inputs.map((input, i) => gzipSync(input, { level: i % 2 === 0 ? 6 : 0 }));
  const bytes = Buffer.concat(parts);
  let offset = 0;
  const members = parts.map((part, i) => {
    const member = { offset, size: part.length, usize: inputs[i].length };
    offset += part.length;
    return member;
  });
  return { bytes: new Uint8Array(bytes), members, usize: inputs.reduce((n, input) => n + input.length, 0) };
}

describe("inflateSmall", () => {
  test("inflates deflated and stored members back to back, as zlib does", () => {
    const { bytes, members, usize } = membersOf(one, two, one);
    expect(Buffer.from(inflateSmall(bytes, members, usize, WHAT))).toEqual(Buffer.concat([one, two, one]));
  });

  test("a member that inflates past its index's size is stopped and refused, as is one that falls short", () => {
    const bomb = new Uint8Array(4 << 20); // deflates to ~4 KiB; its index claims 100 bytes
    const { bytes, members } = membersOf(bomb);
    expect(() => inflateSmall(bytes, [{ ...members[0], usize: 100 }], 100, WHAT)).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
    // The store does not even try: a member much larger than its claimed output goes to zlib, bounded by its maxOutputLength.
    expect(smallEnough([{ ...members[0], usize: 100 }], 100)).toBe(false);
    expect(smallEnough(membersOf(one).members, one.length)).toBe(true);
    const short = membersOf(one);
    expect(() => inflateSmall(short.bytes, [{ ...short.members[0], usize: one.length + 1 }], one.length + 1, WHAT)).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
  });

  test("a wrong CRC-32, a wrong length field, corrupt data and a header that is not gzip are refused", () => {
    const { bytes, members, usize } = membersOf(one);
    for (const [at, why] of [[bytes.length - 8, "CRC-32"], [bytes.length - 4, "length"], [14, "data"], [0, "header"]] as const) {
      const changed = bytes.slice();
      changed[at] ^= 0x01;
      expect(() => inflateSmall(changed, members, usize, WHAT), why).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(INVALID_ARCHIVE|INTEGRITY)$/) }));
    }
  });
});
