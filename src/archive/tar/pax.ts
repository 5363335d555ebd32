/**
 * PAX extended-header records: the `"<len> <key>=<value>\n"` lines carried by
 * typeflag `x` (next entry) and `g` (all later entries) headers, which hold
 * what ustar fields cannot (long or non-ASCII paths, big sizes, exact times).
 *
 * Spec: POSIX.1-2017 `pax`, "pax Extended Header"
 * (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_03).
 */
import { InvalidArchiveError } from "../../util/errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes PAX extended-header records, `"<len> <key>=<value>\n"` each, where
 * `<len>` counts the whole record in bytes including its own digits.
 */
export function encodePaxRecords(records: Record<string, string>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(records)) {
    const body = encoder.encode(` ${key}=${value}\n`).length;
    const digits = String(body).length;
    let length = body + digits;
    // Adding the length's own digits can carry it into one more digit (body 98 -> "101 ...").
    if (String(length).length > digits) length = body + String(length).length;
    text += `${length} ${key}=${value}\n`;
  }
  return encoder.encode(text);
}

/** Parses PAX extended-header data into key/value pairs (later keys win, as POSIX says). */
export function parsePaxRecords(data: Uint8Array, at = 0): Record<string, string> {
  const records: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad the data with NULs
    let space = pos;
    while (space < data.length && data[space] !== 0x20) space++;
    const length = Number(decoder.decode(data.subarray(pos, space)));
    const end = pos + length;
    if (!Number.isSafeInteger(length) || length <= space - pos || end > data.length || data[end - 1] !== 0x0a) {
      throw new InvalidArchiveError(`PAX extended header at byte ${at} has a malformed record at offset ${pos}; the archive is corrupt.`);
    }
    const record = decoder.decode(data.subarray(space + 1, end - 1));
    const equals = record.indexOf("=");
    if (equals <= 0) {
      throw new InvalidArchiveError(`PAX extended header at byte ${at} has a record without "key=": the archive is corrupt.`);
    }
    records[record.slice(0, equals)] = record.slice(equals + 1);
    pos = end;
  }
  return records;
}
