import { describe, expect, it } from "vitest";
import { PendingWrites } from "../../src/node/pending-writes.ts";

/** A write that finishes (or fails) when the test says so. */
function deferred() {
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { done, finish, fail };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("PendingWrites", () => {
  it("runs at most `limit` writes at once, and add() waits for room", async () => {
    const writes = new PendingWrites(2);
    const gates = [deferred(), deferred(), deferred()];
    let running = 0;
    let most = 0;
    const write = (i: number) => async () => {
      most = Math.max(most, ++running);
      await gates[i].done;
      running--;
    };
    await writes.add("a", write(0));
    await writes.add("b", write(1));
    let thirdStarted = false;
    const third = writes.add("c", write(2)).then(() => (thirdStarted = true));
    await tick();
    expect(thirdStarted).toBe(false);
    gates[0].finish();
    await third;
    expect(thirdStarted).toBe(true);
    gates[1].finish();
    gates[2].finish();
    await writes.drain();
    expect(most).toBe(2);
  });

  it("starts a write of a path only after the earlier write of that path, and waitFor() waits for the paths named", async () => {
    const writes = new PendingWrites(8);
    const order: string[] = [];
    const first = deferred();
    await writes.add("same", async () => {
      await first.done;
      order.push("first");
    });
    const second = writes.add("same", async () => {
      order.push("second");
    });
    const waited = writes.waitFor(["other", "same"]).then(() => order.push("waited"));
    await tick();
    expect(order).toEqual([]);
    first.finish();
    await Promise.all([second, waited]);
    await writes.drain();
    expect(order[0]).toBe("first");
    expect([...order].sort()).toEqual(["first", "second", "waited"]);
  });

  it("throws the first failure from the next call, and settle() waits for every write without throwing", async () => {
    const writes = new PendingWrites(4);
    const slow = deferred();
    let slowDone = false;
    await writes.add("slow", async () => {
      await slow.done;
      slowDone = true;
    });
    await writes.add("bad", async () => {
      throw new Error("disk full");
    });
    await tick();
    expect(() => writes.throwIfFailed()).toThrow("disk full");
    await expect(writes.add("next", async () => {})).rejects.toThrow("disk full");
    const settled = writes.settle();
    await tick();
    expect(slowDone).toBe(false);
    slow.finish();
    await settled;
    expect(slowDone).toBe(true);
    await expect(writes.drain()).rejects.toThrow("disk full");
  });
});
