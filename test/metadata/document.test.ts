import { describe, expect, it } from "vitest";
import { compareNewestFirst, encodeMetadata, parseMetadata, type ModelMetadata } from "../../src/index.ts";

const valid: ModelMetadata = {
  model: { domain: "refunds", model_id: "a" },
  storage: { type: "aws:s3", bucket: "b", prefix: "operatorai-model-store/refunds/2020/08/30/23:29:28/artifacts.tar.gz" },
  modelstore: "0.1.0",
  code: { runtime: "node:20.20.2", user: "ci", created: "2020-08-30T23:29:28.000Z", dependencies: {} },
  archive: { size: 10, sha256: "0".repeat(64) },
};

describe("metadata documents", () => {
  it("round-trip through encode and parse", () => {
    expect(parseMetadata(new TextDecoder().decode(encodeMetadata(valid)), "k")).toEqual(valid);
  });

  it("reject corrupt documents with the key and the problem in the message", () => {
    expect(() => parseMetadata("{not json", "some/key.json")).toThrow(/some\/key.json" is not valid JSON/);
    const noSha = { ...valid, archive: { size: 10, sha256: "xyz" } };
    expect(() => parseMetadata(JSON.stringify(noSha), "k")).toThrow(/archive.sha256/);
    const badTime = { ...valid, code: { ...valid.code, created: "yesterday" } };
    expect(() => parseMetadata(JSON.stringify(badTime), "k")).toThrow(/code.created/);
    expect(() => parseMetadata("[]", "k")).toThrow(expect.objectContaining({ code: "INTEGRITY" }));
  });

  it("orders newest first, then by archive location for ties", () => {
    const later = { ...valid, model: { ...valid.model, model_id: "b" }, code: { ...valid.code, created: "2021-01-01T00:00:00.000Z" } };
    const tieLaterSlot = { ...valid, model: { ...valid.model, model_id: "c" }, storage: { ...valid.storage, prefix: valid.storage.prefix!.replace("28/", "29/") } };
    expect([valid, later, tieLaterSlot].sort(compareNewestFirst).map((m) => m.model.model_id)).toEqual(["b", "c", "a"]);
  });

  it("orders models created within one second by code.created_at, and refuses a created_at that is no time", () => {
    const second = { ...valid.code, created: "2020/08/30/23:29:28" };
    // The later upload has the smaller archive key and id, so only created_at can put it first.
    const early = { ...valid, model: { ...valid.model, model_id: "z" }, code: { ...second, created_at: "2020-08-30T23:29:28.100Z" } };
    const late = { ...valid, model: { ...valid.model, model_id: "a" }, storage: { ...valid.storage, prefix: "a/artifacts.tar.gz" }, code: { ...second, created_at: "2020-08-30T23:29:28.900Z" } };
    expect([early, late].sort(compareNewestFirst).map((m) => m.model.model_id)).toEqual(["a", "z"]);
    const bad = { ...valid, code: { ...second, created_at: "yesterday" } };
    expect(() => parseMetadata(JSON.stringify(bad), "k")).toThrow(/code.created_at/);
  });
});
