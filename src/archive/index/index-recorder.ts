/**
 * Builds an archive's table of contents while the archive is written: the tar
 * writer reports each header, the recorder counts and hashes the tar bytes as
 * they pass to the gzip writer, and the gzip writer reports each member's
 * sizes. At the end it encodes the index (archive-index.ts).
 */
import { createSha256, type Sha256Hasher } from "../../digest/sha256.ts";
import { encodeIndexMembers, type ArchiveIndex, type ArchiveIndexLocation, type IndexEntry } from "./archive-index.ts";

/** What the tar writer knows about an entry when it writes its header. */
export interface HeaderInfo {
  path: string;
  type: "file" | "directory";
  size: number;
  mode: number;
}

/**
 * Members are cut before an entry's header once they hold this much, so a
 * small file after a large one gets a small member: reading it costs at most
 * this plus its own size. 256 KiB keeps the cost in ratio negligible (deflate's window is 32 KiB).
 */
export const CUT_AFTER_BYTES = 256 << 10;
/** An entry at least this large starts a member of its own, so the small files before it stay in a small one. */
export const OWN_MEMBER_BYTES = 1 << 20;

interface Pending {
  info: HeaderInfo;
  tarOffset: number; // of the data
}

/** Collects the table of contents of one archive being written. */
export class IndexRecorder {
  private header: HeaderInfo | undefined;
  private tar = 0;
  private current: { pending: Pending; remaining: number; hash: Sha256Hasher | undefined } | undefined;
  private readonly pending: (Pending & { sha256?: string })[] = [];
  private readonly members: { size: number; usize: number }[] = [];
  /** The entry whose header the chunk just handed out starts, if it starts one. */
  startsEntry: HeaderInfo | undefined;

  constructor(private readonly onIndex: (location: ArchiveIndexLocation) => void) {}

  /** Called by the tar writer right before it yields `info`'s header. */
  onHeader(info: HeaderInfo): void {
    this.header = info;
  }

  /** Passes tar chunks through, noting where each entry's data starts and hashing file data. */
  async *observe(chunks: AsyncGenerator<Uint8Array, void, undefined>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of chunks) {
      this.startsEntry = undefined;
      if (this.header) {
        const info = this.header;
        this.header = undefined;
        this.startsEntry = info;
        const pending = { info, tarOffset: this.tar + chunk.length };
        this.current = { pending, remaining: info.size, hash: info.type === "file" ? createSha256() : undefined };
        this.pending.push(pending);
        if (info.size === 0) this.finishEntry();
      } else if (this.current && this.current.remaining > 0) {
        this.current.hash?.update(chunk);
        this.current.remaining -= chunk.length;
        if (this.current.remaining <= 0) this.finishEntry();
      }
      this.tar += chunk.length;
      yield chunk;
    }
  }

  private finishEntry(): void {
    const { pending, hash } = this.current!;
    if (hash) (pending as Pending & { sha256?: string }).sha256 = hash.hexDigest();
    this.current = undefined;
  }

  /** Called by the gzip writer for each member, in order. */
  addMember(size: number, usize: number): void {
    this.members.push({ size, usize });
  }

  /** The index members that end the archive; reports their location. */
  finish(): Uint8Array {
    const members = [];
    const starts: number[] = [];
    let offset = 0;
    let tar = 0;
    for (const m of this.members) {
      members.push({ offset, size: m.size, usize: m.usize });
      starts.push(tar);
      offset += m.size;
      tar += m.usize;
    }
    const entries: IndexEntry[] = [];
    let member = 0;
    for (const e of this.pending) {
      while (member + 1 < starts.length && starts[member + 1] <= e.tarOffset) member++;
      entries.push({
        path: e.info.path,
        type: e.info.type,
        size: e.info.size,
        mode: e.info.mode,
        ...(e.info.type === "file" ? { sha256: e.sha256 } : {}),
        member,
        offset: e.tarOffset - starts[member],
      });
    }
    const index: ArchiveIndex = { members, entries };
    const bytes = encodeIndexMembers(index);
    const hash = createSha256();
    hash.update(bytes);
    this.onIndex({ offset, length: bytes.length, sha256: hash.hexDigest() });
    return bytes;
  }
}
