/**
 * The one key order every backend lists in: by Unicode code point, which is
 * the UTF-8 byte order S3 uses. JavaScript's default string comparison orders
 * by UTF-16 code unit instead, which disagrees for characters above U+FFFF.
 */

/**
 * Compares two keys by code point (equivalently, by their UTF-8 bytes).
 * Use as a sort comparator so the memory and file-system backends list in the same order as S3.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

// Surrogates (U+D800-DFFF) encode code points above U+FFFF, so they must sort
// after U+E000-FFFF; shifting the two ranges past each other does exactly that.
function rank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}
