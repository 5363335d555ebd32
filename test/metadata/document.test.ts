import { describe, expect, it } from "vitest";
import { compareNewestFirst, encodeMetadata, parseMetadata, type ModelMetadata } from "../../src/index.ts";
import { creationInstant } from "../../src/metadata/document.ts";

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

describe("documents of the Python modelstore", () => {
  const python = (created: string): ModelMetadata => ({
    model: { domain: "refunds", model_id: "py", model_type: { library: "model_file" } },
    storage: { type: "file_system", path: "/srv/operatorai-model-store/refunds/2026/12/04/16:45:29/artifacts.tar.gz" },
    modelstore: "0.0.73",
    code: { runtime: "python:3.11.2", user: "root", created, dependencies: {} },
  });

  it("accept model_type { library } without type and { library, models }, and still refuse one without library", () => {
    const parse = (model_type: unknown) => parseMetadata(JSON.stringify({ ...python("2026/12/04/16:45:29"), model: { domain: "refunds", model_id: "py", model_type } }), "k");
    expect(parse({ library: "model_file" }).model.model_type).toEqual({ library: "model_file" });
    const multiple = { library: "multiple-models", models: [{ library: "sklearn", type: "LogisticRegression" }, { library: "model_file" }] };
    expect(parse(multiple).model.model_type).toEqual(multiple);
    for (const bad of [{ type: "LogisticRegression" }, { library: "x", type: 3 }, { library: "x", models: [{}] }, "sklearn"]) {
      expect(() => parse(bad), JSON.stringify(bad)).toThrow(/model_type/);
    }
  });

  it("place a zoneless code.created by the uploader's offset, read off when its document was written", () => {
    // Written in America/New_York (UTC-05:00) at 21:45:29Z, the document landing a second later.
    expect(creationInstant(python("2026/12/04/16:45:29"), "2026-12-04T21:45:30.100Z")).toBe(Date.parse("2026-12-04T21:45:29Z"));
    // India (UTC+05:30): quarter hours, not only whole hours.
    expect(creationInstant(python("2026/12/05/03:15:29"), "2026-12-04T21:45:29.900Z")).toBe(Date.parse("2026-12-04T21:45:29Z"));
    // A copy whose files all carry the copy's time says nothing about the zone: code.created is read as UTC.
    expect(creationInstant(python("2026/12/04/16:45:29"), "2026-12-04T22:17:07.598Z")).toBe(Date.parse("2026-12-04T16:45:29Z"));
    expect(creationInstant(python("2026/12/04/16:45:29"))).toBe(Date.parse("2026-12-04T16:45:29Z"));
    // Ours carry their zone: the write time is not consulted.
    const ours = { ...valid, code: { ...valid.code, created: "2026/12/04/21:45:28", created_at: "2026-12-04T21:45:28.500Z" } };
    expect(creationInstant(ours, "2030-01-01T00:00:00Z")).toBe(Date.parse("2026-12-04T21:45:28.500Z"));
    const written = (m: ModelMetadata) => (m === ours ? undefined : "2026-12-04T21:45:30.100Z");
    expect([ours, python("2026/12/04/16:45:29")].sort((a, b) => compareNewestFirst(a, b, written)).map((m) => m.model.model_id)).toEqual(["py", "a"]);
  });
});
