/**
 * gzip decoding that inflates our members three at a time on the runtime's
 * zlib (Node's thread pool), while the reader parses tar and writes files on
 * the main thread: unpacking then uses both cores.
 *
 * Why it can: every member our writer makes records its own compressed length
 * in its header (see gzip-member.ts), so the stream is cut into members
 * without inflating it. Each member is inflated whole (inflate-native.ts:
 * CRC-32 and length checked, every byte accounted for) and the outputs are
 * passed on in stream order. A header without that length (GNU gzip's,
 * Python's, our index members at the end) hands the rest of the stream to the
 * sequential decoder, which then decodes it as it always did; so do members
 * larger than ours ever are, so that memory stays bounded by a few members.
 */
import { corrupt, truncated } from "./gzip-errors.ts";
import { BLOCK_BYTES } from "./gzip-block.ts";
import { HEADER_SIZE, readU32LE, recordedMemberSize, TRAILER_SIZE } from "./gzip-member.ts";
import { nativeWholeInflater, type WholeInflater } from "./inflate-native.ts";
import type { PullTransformer } from "./pull-transform.ts";

/**
 * Members inflating at once. Three, on a 2-core machine: with two, a core
 * idled whenever the main thread (tar parsing, file writes) was busy and
 * both inflates waited on it. Measured extracting the 512 MiB bench model to
 * disk, nine paired runs of whole processes: three took 0.91× two's time
 * (median; 0.70-1.06×), at 158 MiB peak RSS against 147 (one more 4 MiB
 * output buffer and member in flight).
 */
const IN_FLIGHT = 3;
/** Members larger than this (compressed or not) are left to the sequential decoder. Ours hold one 4 MiB block. */
const MAX_MEMBER = 2 * BLOCK_BYTES;
/** The smallest member: header, an empty deflate block (2 bytes), trailer. */
const MIN_MEMBER = HEADER_SIZE + 2 + TRAILER_SIZE;

interface Inflating {
  settled: boolean;
  output?: Uint8Array[];
  error?: unknown;
  done: Promise<void>;
}

/** The length a member header records, when it records one this decoder takes: between the smallest member and MAX_MEMBER. */
function inflatableSize(header: Uint8Array): number | undefined {
  const size = recordedMemberSize(header);
  return size !== undefined && size >= MIN_MEMBER && size <= MAX_MEMBER ? size : undefined;
}

const lengthMismatch = (got: string) => corrupt(`length mismatch: a member inflates to ${got} bytes, not what its trailer says`);

/**
 * A decoder that inflates members with recorded lengths in parallel, or
 * `undefined` where the runtime has no zlib. `sequential` makes the decoder
 * that takes over at the first member without a recorded length.
 */
export function parallelMembersTransformer(sequential: () => PullTransformer): PullTransformer | undefined {
  const inflate = nativeWholeInflater("whole");
  if (!inflate) return undefined;
  return new ParallelMembers(inflate, sequential);
}

class ParallelMembers implements PullTransformer {
  private readonly inflating: Inflating[] = [];
  /** Header bytes gathered at a member boundary. */
  private readonly header = new Uint8Array(HEADER_SIZE);
  private headerFilled = 0;
  /** The member being gathered, once its header was read. */
  private member: Uint8Array | undefined;
  private memberFilled = 0;
  private membersSeen = 0;
  /** Zeros after the last member (tape padding): the rest must be zeros too. */
  private padding = false;
  /** The sequential decoder that took over, and the bytes it must be given before the current input. */
  private successor: PullTransformer | undefined;
  private readonly successorInput: Uint8Array[] = [];
  /** Buffers for gathering members, reused: fresh 4 MiB arrays cost page faults and garbage. */
  private readonly idleBuffers: ArrayBuffer[] = [];

  constructor(
    private readonly inflate: WholeInflater,
    private readonly sequential: () => PullTransformer,
  ) {}

  async step(input: Uint8Array, emit: (chunk: Uint8Array) => void): Promise<number> {
    if (this.inflating[0]?.settled) return this.emitOldest(emit);
    if (this.successor) {
      // Its output comes after every member already started.
      if (this.inflating.length > 0) return this.emitOldest(emit);
      if (this.successorInput.length > 0) return this.feedSuccessor(emit);
      return this.successor.step(input, emit);
    }
    if (this.padding) {
      if (input.some((byte) => byte !== 0)) throw corrupt("unexpected data after the last gzip member");
      return input.length;
    }
    if (this.inflating.length >= IN_FLIGHT) return this.emitOldest(emit);
    if (this.member) return this.gatherMember(input);
    return this.gatherHeader(input);
  }

  async finish(emit: (chunk: Uint8Array) => void): Promise<boolean> {
    if (this.member) throw truncated();
    if (!this.successor && (this.headerFilled > 0 || this.membersSeen === 0)) {
      // A few bytes short of a header, or no member at all: the sequential decoder says what is wrong.
      this.handOver(this.header.slice(0, this.headerFilled));
    }
    if (this.inflating.length > 0) {
      await this.emitOldest(emit);
      return true;
    }
    if (!this.successor) return false;
    if (this.successorInput.length > 0) {
      await this.feedSuccessor(emit);
      return true;
    }
    return (await this.successor.finish(emit)) === true;
  }

  private gatherHeader(input: Uint8Array): number {
    if (this.headerFilled === 0 && input[0] === 0 && this.membersSeen > 0) {
      this.padding = true;
      return 0;
    }
    // The whole member in this chunk: inflate a view of it, no copy.
    const inChunk = this.headerFilled === 0 && input.length >= HEADER_SIZE ? inflatableSize(input) : undefined;
    if (inChunk !== undefined && inChunk <= input.length) {
      this.start(input.subarray(0, inChunk));
      return inChunk;
    }
    const used = Math.min(HEADER_SIZE - this.headerFilled, input.length);
    this.header.set(input.subarray(0, used), this.headerFilled);
    this.headerFilled += used;
    if (this.headerFilled < HEADER_SIZE) return used;
    this.headerFilled = 0;
    const size = inflatableSize(this.header);
    if (size === undefined) {
      this.handOver(this.header.slice());
      return used;
    }
    const reusable = this.idleBuffers.findIndex((b) => b.byteLength >= size);
    const buffer = reusable >= 0 ? this.idleBuffers.splice(reusable, 1)[0] : new ArrayBuffer(Math.max(size, BLOCK_BYTES + (64 << 10)));
    this.member = new Uint8Array(buffer, 0, size);
    this.member.set(this.header);
    this.memberFilled = HEADER_SIZE;
    return used;
  }

  private gatherMember(input: Uint8Array): number {
    const member = this.member!;
    const used = Math.min(member.length - this.memberFilled, input.length);
    member.set(input.subarray(0, used), this.memberFilled);
    this.memberFilled += used;
    if (this.memberFilled === member.length) {
      this.member = undefined;
      this.start(member, true);
    }
    return used;
  }

  /** Starts inflating a whole member, or hands it over when it says it inflates to more than ours ever do. */
  private start(member: Uint8Array, gathered = false): void {
    this.membersSeen++;
    const usize = readU32LE(member, member.length - 4);
    if (usize > MAX_MEMBER) {
      this.handOver(gathered ? member.slice() : member);
      if (gathered) this.idleBuffers.push(member.buffer as ArrayBuffer);
      return;
    }
    const job: Inflating = { settled: false, done: Promise.resolve() };
    const settle = () => {
      job.settled = true;
      if (gathered) this.idleBuffers.push(member.buffer as ArrayBuffer);
    };
    job.done = this.inflate(member, usize, lengthMismatch).then(
      (output) => {
        job.output = output;
        settle();
      },
      (error) => {
        job.error = error;
        settle();
      },
    );
    this.inflating.push(job);
  }

  private async emitOldest(emit: (chunk: Uint8Array) => void): Promise<number> {
    const job = this.inflating.shift()!;
    await job.done;
    if (job.error !== undefined) throw job.error;
    for (const chunk of job.output!) emit(chunk);
    return 0;
  }

  private handOver(bytes: Uint8Array): void {
    this.successor ??= this.sequential();
    if (bytes.length > 0) this.successorInput.push(bytes);
  }

  private async feedSuccessor(emit: (chunk: Uint8Array) => void): Promise<number> {
    const bytes = this.successorInput[0];
    const used = await this.successor!.step(bytes, emit);
    if (used >= bytes.length) this.successorInput.shift();
    else this.successorInput[0] = bytes.subarray(used);
    return 0;
  }
}
