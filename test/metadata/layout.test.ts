import { describe, expect, it } from "vitest";
import { BucketLayout, formatLayoutTime, validateDomain, validateModelId, validateProject, validateRootPrefix } from "../../src/index.ts";

describe("bucket layout", () => {
  const layout = new BucketLayout();

  it("formats times as %Y/%m/%d/%H:%M:%S in UTC", () => {
    expect(formatLayoutTime(new Date("2020-08-30T23:29:28.731Z"))).toBe("2020/08/30/23:29:28");
    expect(formatLayoutTime(new Date("2021-01-02T03:04:05Z"))).toBe("2021/01/02/03:04:05");
  });

  it("builds the Python modelstore's keys", () => {
    expect(layout.archiveKey("customer-refunds", new Date("2020-08-30T23:29:28Z"))).toBe(
      "operatorai-model-store/customer-refunds/2020/08/30/23:29:28/artifacts.tar.gz",
    );
    expect(layout.versionKey("customer-refunds", "abc")).toBe("operatorai-model-store/customer-refunds/versions/abc.json");
    expect(layout.latestKey("customer-refunds")).toBe("operatorai-model-store/customer-refunds/latest.json");
  });

  it("reads ids and domains back out of keys", () => {
    expect(layout.modelIdOfVersionKey("d", "operatorai-model-store/d/versions/x-1.json")).toBe("x-1");
    expect(layout.modelIdOfVersionKey("d", "operatorai-model-store/d/latest.json")).toBeUndefined();
    expect(layout.domainOfPrefix("operatorai-model-store/refunds/")).toBe("refunds");
  });

  it("normalises and validates the root prefix", () => {
    expect(new BucketLayout("/team/models/").root).toBe("team/models");
    expect(() => validateRootPrefix("a/../b")).toThrow(/Invalid rootPrefix/);
    expect(() => validateRootPrefix("")).toThrow(/empty/);
  });

  it("rejects unsafe domains and ids with a message that says what to do", () => {
    for (const bad of ["", "a/b", "a\\b", "..", "x..y", "versions", "latest.json", "bell\u0007", "x".repeat(256), " lead"]) {
      expect(() => validateDomain(bad)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      expect(() => validateModelId(bad)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
    expect(() => validateDomain("a/b")).toThrow(/Use a single name/);
    expect(validateDomain("customer-refunds_v2.1")).toBe("customer-refunds_v2.1");
    expect(validateDomain("café-€")).toBe("café-€");
    expect(validateModelId("x".repeat(200))).toBe("x".repeat(200));
  });

  it("rejects names that would not fit a path segment with the layout's suffixes, or that look like another name", () => {
    const cases: [string, RegExp][] = [
      ["x".repeat(201), /201 bytes long in UTF-8 \(at most 200\)/],
      ["é".repeat(101), /202 bytes long/], // 101 characters, two bytes each
      ["cafe\u0301", /NFC/], // "café" with a combining accent
      ["refunds\u202e", /invisible character U\+202E/], // right-to-left override
      ["a\u200bb", /U\+200B/], // zero-width space
      ["a\u2028b", /U\+2028/], // line separator
      ["x\ud800", /lone surrogate/],
      [".refunds.lock", /file-system backend's own files/],
      [".a.0123456789abcdef.tmp", /file-system backend's own files/],
    ];
    for (const [bad, message] of cases) {
      expect(() => validateDomain(bad), JSON.stringify(bad)).toThrow(message);
      expect(() => validateModelId(bad), JSON.stringify(bad)).toThrow(message);
      expect(() => validateProject(bad), JSON.stringify(bad)).toThrow(message);
    }
    expect(() => validateProject("payments.json")).toThrow(/ends in ".json"/);
    expect(validateDomain("payments.json")).toBe("payments.json");
    expect(validateModelId("3f2c1a9e-0000-4000-8000-000000000000")).toBe("3f2c1a9e-0000-4000-8000-000000000000");
  });
});
