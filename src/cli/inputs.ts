/** Turns command-line paths into archive entries: a directory contributes its contents, a file itself. */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { Readable } from "node:stream";
import type { ArchiveInputEntry } from "../archive/types.js";
import { InvalidArgumentError } from "../errors.js";
import { filesFromDirectory } from "../fs.js";

/**
 * Entries for `paths`: the files inside each directory keep their paths
 * relative to it; a plain file goes in under its own name.
 */
export async function* entriesFromPaths(paths: string[], signal?: AbortSignal): AsyncGenerator<ArchiveInputEntry> {
  for (const path of paths) {
    const info = await stat(path).catch((cause) => {
      throw new InvalidArgumentError(`Cannot read ${JSON.stringify(path)}: ${cause.code ?? cause.message}. Check the path.`, { cause });
    });
    if (info.isDirectory()) {
      yield* filesFromDirectory(path, { signal });
    } else if (info.isFile()) {
      const absolute = resolve(path);
      yield {
        path: basename(path),
        size: info.size,
        mode: info.mode & 0o777,
        mtime: info.mtime,
        body: Readable.toWeb(createReadStream(absolute)) as unknown as ReadableStream<Uint8Array>,
      };
    } else {
      throw new InvalidArgumentError(`${JSON.stringify(path)} is neither a file nor a directory; pass model files or folders.`);
    }
  }
}
