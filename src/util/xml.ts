/**
 * A tolerant extractor for the few elements of S3's and Azure's XML answers
 * that their backends read. Edge workers have no DOMParser, and these documents
 * are flat enough (no element nests inside one of the same name) that a scan by
 * tag name is exact for them.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Decodes the five predefined XML entities and numeric character references. */
export function decodeXmlText(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      // An out-of-range reference is malformed; keep it verbatim rather than throw on a server's quirk.
      return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name] ?? whole;
  });
}

/** Escapes text for an XML element body (the request documents we send). */
export function escapeXmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${c === "&" ? "amp" : c === "<" ? "lt" : c === ">" ? "gt" : c === '"' ? "quot" : "apos"};`);
}

function stripCdata(raw: string): string {
  return raw.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, inner: string) => escapeXmlText(inner));
}

const patterns = new Map<string, RegExp>();

function patternFor(tag: string): RegExp {
  let re = patterns.get(tag);
  if (!re) {
    // `<Tag>`, `<Tag attr="...">` or `<Tag/>`, but never `<TagSuffix>`.
    re = new RegExp(`<${tag}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</${tag}\\s*>)`, "g");
    patterns.set(tag, re);
  }
  re.lastIndex = 0;
  return re;
}

/** The raw (undecoded) inner XML of every `<tag>` element in `xml`, in document order. */
export function xmlElements(xml: string, tag: string): string[] {
  const re = patternFor(tag);
  const out: string[] = [];
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m[1] ?? "");
  return out;
}

/** The decoded text of the first `<tag>` element in `xml`, or `undefined` when there is none. */
export function xmlText(xml: string, tag: string): string | undefined {
  const re = patternFor(tag);
  const m = re.exec(xml);
  return m ? decodeXmlText(stripCdata(m[1] ?? "")) : undefined;
}

/** The decoded text of every `<tag>` element in `xml`. */
export function xmlTexts(xml: string, tag: string): string[] {
  return xmlElements(xml, tag).map((raw) => decodeXmlText(stripCdata(raw)));
}

/**
 * The local name of the document's root element (`ListBucketResult`, `Error`, `html`),
 * past a byte-order mark, the XML declaration, comments, processing instructions and a
 * doctype; `undefined` when the text does not start like markup.
 */
export function xmlRootName(text: string): string | undefined {
  const prolog = /^\uFEFF?(?:\s+|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>]*>)*/i.exec(text)![0];
  return /^<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)/.exec(text.slice(prolog.length))?.[1];
}
