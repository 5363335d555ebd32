/**
 * The git checkout an upload runs in, recorded as `code.git` the way the Python
 * modelstore records it: the repository's name, the commit, whether the work
 * tree has local changes, the branch; plus the remote's URL with any
 * credentials taken out (an https URL may carry a token).
 */
import type { GitInfo } from "../metadata/document.ts";

async function git(args: string[], cwd: string): Promise<string | undefined> {
  // Loaded when first used, not at import: child_process alone takes ~5 ms to load (see node-fetch.ts).
  const { execFile } = await import("node:child_process");
  return new Promise((resolve) => {
    execFile("git", args, { cwd, timeout: 10_000, windowsHide: true }, (error, stdout) => resolve(error ? undefined : stdout.trim()));
  });
}

/** `https://user:token@host/org/repo.git` → `https://host/org/repo.git`; scp-like `git@host:org/repo.git` is kept. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return url; // not a URL (scp-like syntax or a path): it has no place for a password
  }
}

/** The repository's name as the Python library takes it: the URL's last segment without `.git`. */
function repositoryName(url: string | undefined): string {
  if (!url) return "";
  return url.split(".git")[0].split(/[/:]/).pop() ?? "";
}

/**
 * The git checkout `dir` (default: the working directory) is in, or `undefined`
 * when it is in none or git is not installed: an upload never fails for want of git.
 */
export async function gitInfo(dir: string = process.cwd()): Promise<GitInfo | undefined> {
  const sha = await git(["rev-parse", "HEAD"], dir);
  if (!sha || !/^[0-9a-f]{40,64}$/.test(sha)) return undefined;
  const [branch, url, status] = await Promise.all([
    git(["symbolic-ref", "--quiet", "--short", "HEAD"], dir),
    git(["config", "--get", "remote.origin.url"], dir),
    git(["status", "--porcelain", "--untracked-files=no"], dir),
  ]);
  const clean = url ? withoutCredentials(url) : undefined;
  return {
    repository: repositoryName(clean),
    sha,
    local_changes: status === undefined ? false : status.length > 0,
    ...(branch ? { branch } : {}),
    ...(clean ? { url: clean } : {}),
  };
}
