/** The CLI reaches Google Cloud Storage by `--storage google-cloud-storage` and the Python library's variables. */
import { describe, expect, it } from "vitest";
import { storeFromSettings } from "../../src/cli/config.ts";
import { usage } from "../../src/cli/help.ts";
import type { S3Backend } from "../../src/s3.ts";

const env = {
  MODEL_STORE_GCP_BUCKET: "team-models",
  MODEL_STORE_GCP_PROJECT: "ml-project",
  MODEL_STORE_GCP_ROOT_PREFIX: "models/operatorai-model-store",
  MODEL_STORE_GCP_HMAC_KEY_ID: "GOOG1EXAMPLE",
  MODEL_STORE_GCP_HMAC_SECRET: "secret-value",
};

describe("CLI storage google-cloud-storage", () => {
  it("opens the bucket MODEL_STORE_GCP_BUCKET names under MODEL_STORE_GCP_ROOT_PREFIX, recording google:cloud-storage", async () => {
    for (const store of [await storeFromSettings({ storage: "google-cloud-storage" }, env), await storeFromSettings({}, { ...env, MODEL_STORE_STORAGE: "google-cloud-storage" })]) {
      const backend = store.backend as S3Backend;
      expect(backend.bucket).toBe("team-models");
      expect(store.layout.root).toBe("models/operatorai-model-store");
      expect(backend.locate("k")).toEqual({ type: "google:cloud-storage", bucket: "team-models", prefix: "k" });
    }
  });

  it("MODEL_STORE_ROOT_PREFIX goes in front of operatorai-model-store, as for the other buckets", async () => {
    const { MODEL_STORE_GCP_ROOT_PREFIX: _, ...rest } = env;
    const store = await storeFromSettings({ storage: "google-cloud-storage" }, { ...rest, MODEL_STORE_ROOT_PREFIX: "team" });
    expect(store.layout.root).toBe("team/operatorai-model-store");
  });

  it("a missing bucket or HMAC key is INVALID_ARGUMENT naming the variable, with no secret in it", async () => {
    const { MODEL_STORE_GCP_BUCKET: _b, ...noBucket } = env;
    await expect(storeFromSettings({ storage: "google-cloud-storage" }, noBucket)).rejects.toThrow(/MODEL_STORE_GCP_BUCKET/);
    const { MODEL_STORE_GCP_HMAC_KEY_ID: _k, ...noKey } = env;
    const error = await storeFromSettings({ storage: "google-cloud-storage" }, noKey).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect((error as Error).message).toContain("MODEL_STORE_GCP_HMAC_KEY_ID");
    expect((error as Error).message).not.toContain("secret-value");
  });

  it("is listed in the help with its variables", () => {
    for (const text of ["google-cloud-storage", "MODEL_STORE_GCP_BUCKET", "MODEL_STORE_GCP_PROJECT", "MODEL_STORE_GCP_ROOT_PREFIX", "MODEL_STORE_GCP_HMAC_SECRET"]) {
      expect(usage()).toContain(text);
    }
  });
});
