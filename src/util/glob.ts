/**
 * Glob patterns for choosing a model's files, as `downloadModel`'s `include`
 * and `exclude` take them (like `allowPatterns` / `ignorePatterns` in Hugging
 * Face's `snapshotDownload`): `*` matches within one path segment, `**` across
 * segments, `?` one character other than `/`, and `[abc]` one of a set. A
 * pattern without a `/` matches a file's name in any folder, so `*.json`
 * picks `config.json` and `tokenizer/vocab.json`.
 */
import { InvalidArgumentError } from "./errors.ts";

function patternRegExp(pattern: string): RegExp {
  if (typeof pattern !== "string" || pattern.length === 0) {
    throw new InvalidArgumentError(`A file pattern must be a non-empty string such as "*.json" or "tokenizer/**", not ${JSON.stringify(pattern)}.`);
  }
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      const slash = pattern[i + 2] === "/";
      source += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end === -1) source += "\\[";
      else {
        const body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        source += body.startsWith("!") ? `[^/${body.slice(1)}]` : `[${body}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(pattern.includes("/") ? `^${source}$` : `^(?:.*/)?${source}$`, "u");
}

/**
 * A predicate over archive paths: true when `include` is empty or some pattern
 * in it matches, and no pattern in `exclude` does.
 * @throws InvalidArgumentError for an empty or non-string pattern
 */
export function pathMatcher(include: string[] | undefined, exclude: string[] | undefined): (path: string) => boolean {
  const inc = (include ?? []).map(patternRegExp);
  const exc = (exclude ?? []).map(patternRegExp);
  return (path) => (inc.length === 0 || inc.some((re) => re.test(path))) && !exc.some((re) => re.test(path));
}
