/** The `modelstore` command end to end: the built binary in a temp dir, as a user runs it. */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, symlink, utimes, writeFile, mkdir } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "dist/cli/main.js");
let work: string;

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: work,
    env: { ...process.env, MODEL_STORE_ROOT: join(work, "store"), ...env },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  // Built by `npm test`'s pretest; when this file runs alone, build if missing.
  if (!existsSync(bin)) execFileSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  work = await mkdtemp(join(tmpdir(), "modelstore-cli-"));
  await mkdir(join(work, "model/sub"), { recursive: true });
  await writeFile(join(work, "model/config.json"), '{"a": 1}');
  await writeFile(join(work, "model/sub/weights.bin"), new Uint8Array(70_000).map((_, i) => i % 251));
  await writeFile(join(work, "notes.txt"), "extra notes");
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("modelstore CLI", () => {
  it("gc lists leftovers in a dry run, then removes only those older than --older-than", async () => {
    const env = { MODEL_STORE_ROOT: join(work, "gc-store") };
    const up = JSON.parse(cli(["upload", "leftovers", "model", "--json"], env).stdout);
    // An archive no model points at, as a process killed before its version document leaves it, two days old.
    const orphan = join(work, "gc-store/operatorai-model-store/leftovers/2020/01/01/00:00:00/artifacts.tar.gz");
    await mkdir(join(orphan, ".."), { recursive: true });
    await writeFile(orphan, new Uint8Array(4096));
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(orphan, twoDaysAgo, twoDaysAgo);

    const dry = cli(["gc", "--dry-run", "--json"], env);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, items: [{ kind: "orphan-archive", key: "operatorai-model-store/leftovers/2020/01/01/00:00:00/artifacts.tar.gz", size: 4096 }] });
    expect(existsSync(orphan)).toBe(true);
    expect(cli(["gc", "--older-than", "3d"], env).stdout).toContain("0 leftovers removed");
    const done = cli(["gc", "--older-than", "1d"], env);
    expect(done.stdout).toContain("removed orphan-archive operatorai-model-store/leftovers/2020/01/01/00:00:00/artifacts.tar.gz (4096 bytes)");
    expect(existsSync(orphan)).toBe(false);
    expect(cli(["cat", "leftovers", up.model.model_id, "config.json"], env).stdout).toBe('{"a": 1}');
    const bad = cli(["gc", "--older-than", "yesterday"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--older-than takes an age such as 30m");
  });

  it("uploads, lists, shows, cats, downloads and deletes a model", async () => {
    const up = cli(["upload", "refunds", "model", "--extra", "notes.txt", "--meta", '{"accuracy": 0.9}', "--json"]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    const meta = JSON.parse(up.stdout);
    expect(meta.extra).toEqual({ accuracy: 0.9 });
    const id: string = meta.model.model_id;

    expect(JSON.parse(cli(["domains", "--json"]).stdout)).toEqual(["refunds"]);
    const models = JSON.parse(cli(["models", "refunds", "--json"]).stdout);
    expect(models.map((m: { model: { model_id: string } }) => m.model.model_id)).toEqual([id]);
    expect(JSON.parse(cli(["info", "refunds", "--json"]).stdout).model.model_id).toBe(id);
    expect(cli(["info", "refunds", id]).stdout).toContain(id);

    expect(cli(["cat", "refunds", "latest", "config.json"]).stdout).toBe('{"a": 1}');
    expect(cli(["cat", "refunds", id, "extras/notes.txt"]).stdout).toBe("extra notes");

    const down = cli(["download", "refunds", id, "--to", "out", "--json"]);
    expect(down.code).toBe(0);
    expect(await readFile(join(work, "out/sub/weights.bin"))).toEqual(await readFile(join(work, "model/sub/weights.bin")));
    expect(await readFile(join(work, "out/config.json"), "utf8")).toBe('{"a": 1}');

    expect(cli(["delete", "refunds", id]).code).toBe(0);
    // With bucket metadata a domain is its models: with the last one gone, it is gone too.
    expect(cli(["models", "refunds", "--json"]).code).toBe(3);
  });

  it("downloads into ./<domain>/<id> without --to, leaving folders of the working directory alone", async () => {
    const up = JSON.parse(cli(["upload", "shadow", "model", "--json"]).stdout);
    const id: string = up.model.model_id;
    // A folder of the working directory that shares a name with one of the model's.
    await mkdir(join(work, "sub"), { recursive: true });
    await writeFile(join(work, "sub/mine.txt"), "not the model's");
    const down = cli(["download", "shadow", "--json"]);
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout).dir).toBe(join(work, "shadow", id));
    expect(await readFile(join(work, "shadow", id, "sub/weights.bin"))).toEqual(await readFile(join(work, "model/sub/weights.bin")));
    expect(await readFile(join(work, "sub/mine.txt"), "utf8")).toBe("not the model's");
  });

  it("reads MODEL_STORE_ROOT_PREFIX as the Python library does, counts empty variables as unset, and lets flags override MODEL_STORE_CONFIG", async () => {
    // Python's filesystem storage: MODEL_STORE_ROOT_PREFIX is the store's directory.
    const env = { MODEL_STORE_ROOT: "", MODEL_STORE_ROOT_PREFIX: join(work, "py-root") };
    expect(cli(["upload", "py-domain", "model", "--json"], env).code).toBe(0);
    expect(existsSync(join(work, "py-root", "operatorai-model-store", "py-domain", "latest.json"))).toBe(true);
    expect(JSON.parse(cli(["domains", "--json"], env).stdout)).toEqual(["py-domain"]);
    // A config file from the environment gives way to flags that choose the store.
    const withConfig = { MODEL_STORE_CONFIG: join(work, "no-such-config.json") };
    expect(cli(["domains", "--json"], withConfig).code).not.toBe(0);
    const flagged = cli(["domains", "--json", "--root", join(work, "py-root")], withConfig);
    expect(flagged.stderr).toBe("");
    expect(JSON.parse(flagged.stdout)).toEqual(["py-domain"]);
  });

  it("writes an archive GNU tar can list", async () => {
    const result = cli(["archive", "model", "-o", "a.tar.gz"]);
    expect(result.code).toBe(0);
    const listing = execFileSync("tar", ["-tzf", join(work, "a.tar.gz")], { encoding: "utf8" }).split("\n");
    expect(listing).toEqual(expect.arrayContaining(["runtime-info.json", "config.json", "sub/weights.bin"]));
  });

  it("exits with clear codes and messages on bad input", () => {
    const missing = cli(["info", "nowhere"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/Domain "nowhere" has no models/);
    // The library's advice, given as the commands that follow it.
    expect(missing.stderr).toContain("List the domains with modelstore domains, or upload one with modelstore upload nowhere <paths...>.");
    expect(missing.stderr).not.toContain("store.");
    const asJson = cli(["info", "nowhere", "--json"]);
    expect(asJson.code).toBe(3);
    expect(asJson.stdout).toBe("");
    expect(JSON.parse(asJson.stderr)).toEqual({ error: { code: "NOT_FOUND", message: expect.stringContaining('Domain "nowhere" has no models') } });
    const bad = cli(["upload", "a/b", "model"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Invalid domain/);
    expect(cli(["frobnicate"]).code).toBe(2);
    expect(cli(["upload", "refunds", "no-such-path"]).code).toBe(2);
    const storage = cli(["domains"], { MODEL_STORE_STORAGE: "floppy" });
    expect(storage.code).toBe(2);
    expect(storage.stderr).toMatch(/Unknown storage "floppy"/);
  });

  it("prints usage and exits 2 when run bare; --help and <command> --help print the command's options, storage names and variables", () => {
    const bare = cli([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe("");
    expect(bare.stderr).toContain("Usage: modelstore <command>");
    const help = cli(["--help"]);
    expect(help.code).toBe(0);
    for (const text of ["files <domain> [id]", "filesystem", "aws-s3", "MODEL_STORE_AWS_BUCKET", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "--bucket", "--endpoint", "--region"]) {
      expect(help.stdout).toContain(text);
    }
    const upload = cli(["upload", "--help"]);
    expect(upload.code).toBe(0);
    expect(upload.stdout).toMatch(/^Usage: modelstore upload <domain> <paths\.\.\.> \[options\]/);
    expect(upload.stdout).toContain("--dereference");
    expect(upload.stdout).toContain("MODEL_STORE_STORAGE");
    expect(upload.stdout).not.toContain("--overwrite");
    expect(cli(["help", "download"]).stdout).toContain("--overwrite");
    // An option the command does not take is refused, not ignored.
    const stray = cli(["models", "refunds", "--overwrite"]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("modelstore models does not take --overwrite");
    expect(cli(["upload", "refunds"]).stderr).toContain("Usage: modelstore upload <domain> <paths...>");
  });

  it("exits 3 for models of an unknown domain, as info does", () => {
    const missing = cli(["models", "no-such-domain"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('Domain "no-such-domain" does not exist. List the domains with modelstore domains.');
  });

  it("refuses --meta that is not a JSON object with exit 2, storing nothing", () => {
    for (const meta of ["5", '"text"', "[1, 2]", "null", "{oops"]) {
      const result = cli(["upload", "meta-domain", "model", "--meta", meta]);
      expect(result.code, meta).toBe(2);
      expect(result.stderr).toContain("--meta must be a JSON object");
    }
    expect(cli(["models", "meta-domain"]).code).toBe(3);
  });

  it("lists a model's files with their sizes", () => {
    const id = JSON.parse(cli(["upload", "listed", "model", "--extra", "notes.txt", "--json"]).stdout).model.model_id;
    const human = cli(["files", "listed"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ +8 {2}config\.json$/m);
    expect(human.stdout).toMatch(/^ +70000 {2}sub\/weights\.bin$/m);
    expect(human.stdout).toMatch(/^ +11 {2}extras\/notes\.txt$/m);
    const listed = JSON.parse(cli(["files", "listed", id, "--json"]).stdout);
    expect(listed).toEqual(
      expect.arrayContaining([
        { path: "config.json", size: 8, type: "file", sha256: expect.stringMatching(/^[0-9a-f]{64}$/), mode: expect.any(Number) },
        { path: "sub/weights.bin", size: 70_000, type: "file", sha256: expect.stringMatching(/^[0-9a-f]{64}$/), mode: expect.any(Number) },
        { path: "runtime-info.json", size: expect.any(Number), type: "file", sha256: expect.stringMatching(/^[0-9a-f]{64}$/), mode: expect.any(Number) },
      ]),
    );
    expect(cli(["files", "listed", "no-such-id"]).code).toBe(3);
  });

  it("refuses to download into a non-empty directory unless --overwrite, which replaces its contents", async () => {
    const id = JSON.parse(cli(["upload", "overwritten", "model", "--json"]).stdout).model.model_id;
    await mkdir(join(work, "target"), { recursive: true });
    await writeFile(join(work, "target/stale.bin"), "an older model's file");
    const refused = cli(["download", "overwritten", id, "--to", "target"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("pass --overwrite to replace its contents");
    expect(existsSync(join(work, "target/config.json"))).toBe(false);
    const replaced = cli(["download", "overwritten", id, "--to", "target", "--overwrite"]);
    expect(replaced.code).toBe(0);
    expect(existsSync(join(work, "target/stale.bin"))).toBe(false);
    expect(await readFile(join(work, "target/config.json"), "utf8")).toBe('{"a": 1}');
  });

  it("uploads a folder whose files link outside it with --dereference", async () => {
    // A Hugging Face cache snapshot: the files are links into ../../blobs.
    await mkdir(join(work, "hf/blobs"), { recursive: true });
    await mkdir(join(work, "hf/snapshots/rev1"), { recursive: true });
    await writeFile(join(work, "hf/blobs/abc"), '{"hidden": 8}');
    await symlink("../../blobs/abc", join(work, "hf/snapshots/rev1/config.json"));
    const refused = cli(["upload", "linked", "hf/snapshots/rev1"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("Pass --dereference to store the contents it points to");
    const stored = cli(["upload", "linked", "hf/snapshots/rev1", "--dereference", "--json"]);
    expect(stored.code).toBe(0);
    expect(cli(["cat", "linked", "latest", "config.json"]).stdout).toBe('{"hidden": 8}');
  });

  it("shows upload progress as a percentage of the files' sizes on a terminal, and none otherwise", () => {
    // script(1) gives the CLI a pseudo-terminal, as an interactive shell would.
    const command = [process.execPath, bin, "upload", "progress", "model"].map((arg) => `'${arg}'`).join(" ");
    const onTty = spawnSync("script", ["-qec", command, "/dev/null"], {
      cwd: work,
      env: { ...process.env, MODEL_STORE_ROOT: join(work, "store") },
      encoding: "utf8",
    });
    expect(onTty.status).toBe(0);
    expect(onTty.stdout).toMatch(/uploading [\d.]+ MiB \d+% [\d.]+ MB\/s/);
    expect(onTty.stdout).toMatch(/uploading [\d.]+ MiB 100% /);
    expect(cli(["upload", "progress", "model"]).stderr).toBe("");
  });

  it("records the user without USER, and exact installed framework versions, never ranges", async () => {
    await mkdir(join(work, "node_modules/onnxruntime-node"), { recursive: true });
    await writeFile(join(work, "node_modules/onnxruntime-node/package.json"), '{"name": "onnxruntime-node", "version": "1.20.1"}');
    await mkdir(join(work, "node_modules/left-pad"), { recursive: true });
    await writeFile(join(work, "node_modules/left-pad/package.json"), '{"name": "left-pad", "version": "1.3.0"}');
    // As in a container or CI job: none of the variables getpass reads.
    const noUser = { USER: "", LOGNAME: "", LNAME: "", USERNAME: "" };
    const up = cli(["upload", "recorded", "model", "--dependency", "left-pad", "--json"], noUser);
    expect(up.stderr).toBe("");
    const meta = JSON.parse(up.stdout);
    expect(meta.code.user).toBe(userInfo().username);
    expect(meta.code.dependencies).toEqual({ "modelstore-js": expect.stringMatching(/^\d+\.\d+\.\d+/), "onnxruntime-node": "1.20.1", "left-pad": "1.3.0" });
    const missing = cli(["upload", "recorded", "model", "--dependency", "not-installed"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Cannot record the version of "not-installed"');
  });

  it("reads its root from --root over MODEL_STORE_ROOT", () => {
    expect(cli(["upload", "flagged", "model", "--root", "other-store"]).code).toBe(0);
    expect(JSON.parse(cli(["domains", "--json", "--root", "other-store"]).stdout)).toEqual(["flagged"]);
    expect(existsSync(join(work, "other-store/operatorai-model-store/flagged/latest.json"))).toBe(true);
  });

  it("works the same on S3 with MODEL_STORE_STORAGE=aws-s3", async () => {
    const server: S3Server = await useS3Server();
    try {
      const env = {
        MODEL_STORE_STORAGE: "aws-s3",
        MODEL_STORE_AWS_BUCKET: await createBucket(server, "cli"),
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
        AWS_REGION: server.region,
        AWS_ENDPOINT_URL_S3: server.endpoint,
      };
      const up = cli(["upload", "refunds", "model", "--json"], env);
      expect(up.stderr).toBe("");
      const meta = JSON.parse(up.stdout);
      expect(meta.storage).toMatchObject({ type: "aws:s3", bucket: env.MODEL_STORE_AWS_BUCKET });
      expect(JSON.parse(cli(["domains", "--json"], env).stdout)).toEqual(["refunds"]);
      expect(cli(["cat", "refunds", "latest", "config.json"], env).stdout).toBe('{"a": 1}');
      // --bucket, --endpoint and --region stand in for the variables, and choose aws-s3 themselves.
      const flagged = cli(["domains", "--json", "--bucket", env.MODEL_STORE_AWS_BUCKET, "--endpoint", server.endpoint, "--region", server.region], {
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      });
      expect(flagged.stderr).toBe("");
      expect(JSON.parse(flagged.stdout)).toEqual(["refunds"]);
      const mixed = cli(["domains", "--bucket", "b", "--storage", "filesystem"]);
      expect(mixed.code).toBe(2);
      expect(mixed.stderr).toContain("--bucket applies to S3 only");
      // No keys in the environment: the profile AWS_PROFILE names in ~/.aws/credentials, as the AWS CLI reads it.
      const home = join(work, "home");
      await mkdir(join(home, ".aws"), { recursive: true });
      await writeFile(join(home, ".aws/credentials"), `[models]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`);
      const viaProfile = { ...env, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", HOME: home, AWS_PROFILE: "models", AWS_EC2_METADATA_DISABLED: "true", AWS_SHARED_CREDENTIALS_FILE: "", AWS_CONFIG_FILE: "" };
      const profiled = cli(["upload", "profiled", "model", "--json"], viaProfile);
      expect(profiled.stderr).toBe("");
      expect(JSON.parse(profiled.stdout).model.domain).toBe("profiled");
      const noProfile = cli(["domains"], { ...viaProfile, AWS_PROFILE: "absent" });
      expect(noProfile.code).toBe(1);
      expect(noProfile.stderr).toContain('the AWS credential chain (profile "absent") found none');
      const wrongSecret = cli(["domains"], { ...env, AWS_SECRET_ACCESS_KEY: "not-the-secret" });
      expect(wrongSecret.code).toBe(1);
      expect(wrongSecret.stderr).toMatch(/secret access key/);
      expect(wrongSecret.stderr).not.toContain("not-the-secret");
    } finally {
      await server.stop();
    }
  }, 300_000);
});
