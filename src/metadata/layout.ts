/**
 * Where things live in a bucket. Compatible with operatorai's Python
 * modelstore so both can share one bucket:
 *
 * ```
 * <root>/<domain>/<%Y/%m/%d/%H:%M:%S>/artifacts.tar.gz   the archive, where the backend enforces create-only writes
 * <root>/<domain>/<%Y/%m/%d/%H:%M:%S>/<model-id>/artifacts.tar.gz   the archive, where it cannot
 * <root>/<domain>/versions/<model-id>.json               one document per model
 * <root>/<domain>/latest.json                            a copy of the newest model's document
 * <root>/domains/<domain>.json                           the same copy where the Python modelstore keeps it
 * <root>/<domain>/versions/modelstore-deleted/<id>.json  the Python modelstore's tombstone of a deleted model
 * <root>/.projects/<project>.json                        a project (only when projects are used)
 * <root>/.projects/<project>/<domain>.json               a task's membership of a project
 * ```
 * A store that never names a project has no `.projects` documents at all, so
 * its layout is exactly the Python modelstore's; its domains sit in the default project.
 * Times are UTC. Names are validated before they become keys.
 */
import { validateDomain, validateModelId, validateProject, validateRootPrefix } from "./names.ts";

/** The root prefix the Python modelstore hard-codes. */
export const DEFAULT_ROOT_PREFIX = "operatorai-model-store";
/** The Python modelstore's state for deleted models: `versions/modelstore-deleted/<id>.json` is a tombstone. */
export const DELETED_STATE = "modelstore-deleted";
/** File name of every model archive. */
export const ARCHIVE_FILE_NAME = "artifacts.tar.gz";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Formats a time as the layout's `%Y/%m/%d/%H:%M:%S` in UTC, e.g. `2020/08/30/23:29:28`. */
export function formatLayoutTime(date: Date): string {
  return (
    `${pad(date.getUTCFullYear(), 4)}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}/` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
  );
}

/** Builds every key the store reads or writes, from a validated root prefix. */
export class BucketLayout {
  /** The root prefix without leading or trailing `/`. */
  readonly root: string;

  constructor(rootPrefix: string = DEFAULT_ROOT_PREFIX) {
    this.root = validateRootPrefix(rootPrefix);
  }

  /** `<root>/` — the prefix under which domains are listed. */
  domainsPrefix(): string {
    return `${this.root}/`;
  }

  /** `<root>/<domain>/` */
  domainPrefix(domain: string): string {
    return `${this.root}/${validateDomain(domain)}/`;
  }

  /**
   * `<root>/<domain>/<%Y/%m/%d/%H:%M:%S>/artifacts.tar.gz`, or with `modelId`
   * `<root>/<domain>/<%Y/%m/%d/%H:%M:%S>/<model-id>/artifacts.tar.gz`: a slot no
   * other upload can share, for backends that cannot refuse a second writer
   * (the Python modelstore puts the id there too since 0.0.77).
   */
  archiveKey(domain: string, time: Date, modelId?: string): string {
    const slot = modelId === undefined ? "" : `${validateModelId(modelId)}/`;
    return `${this.domainPrefix(domain)}${formatLayoutTime(time)}/${slot}${ARCHIVE_FILE_NAME}`;
  }

  /** `<root>/<domain>/versions/` */
  versionsPrefix(domain: string): string {
    return `${this.domainPrefix(domain)}versions/`;
  }

  /** `<root>/<domain>/versions/<model-id>.json` */
  versionKey(domain: string, modelId: string): string {
    return `${this.versionsPrefix(domain)}${validateModelId(modelId)}.json`;
  }

  /** `<root>/<domain>/latest.json` */
  latestKey(domain: string): string {
    return `${this.domainPrefix(domain)}latest.json`;
  }

  /**
   * `<root>/domains/<domain>.json`: the Python modelstore's latest pointer (every
   * release keeps it there; its `list_domains` lists these documents).
   */
  pythonLatestKey(domain: string): string {
    return `${this.pythonDomainsPrefix()}${validateDomain(domain)}.json`;
  }

  /** `<root>/domains/` */
  pythonDomainsPrefix(): string {
    return `${this.root}/domains/`;
  }

  /** The domain of a `<root>/domains/<domain>.json` key, or `undefined`. */
  domainOfPythonLatestKey(key: string): string | undefined {
    return jsonNameUnder(this.pythonDomainsPrefix(), key);
  }

  /** `<root>/<domain>/versions/modelstore-deleted/<model-id>.json`: the Python modelstore's record that a model was deleted. */
  tombstoneKey(domain: string, modelId: string): string {
    return `${this.tombstonesPrefix(domain)}${validateModelId(modelId)}.json`;
  }

  /** `<root>/<domain>/versions/modelstore-deleted/` */
  tombstonesPrefix(domain: string): string {
    return `${this.versionsPrefix(domain)}${DELETED_STATE}/`;
  }

  /**
   * The Python modelstore's (>= 0.0.77) archive key,
   * `<root>/<domain>/<%Y.%m.%d-%H.%M.%S>/<model-id>/artifacts.tar.gz`: no `:` in it.
   */
  pythonArchiveKey(domain: string, time: Date, modelId: string): string {
    const t =
      `${pad(time.getUTCFullYear(), 4)}.${pad(time.getUTCMonth() + 1)}.${pad(time.getUTCDate())}-` +
      `${pad(time.getUTCHours())}.${pad(time.getUTCMinutes())}.${pad(time.getUTCSeconds())}`;
    return `${this.domainPrefix(domain)}${t}/${validateModelId(modelId)}/${ARCHIVE_FILE_NAME}`;
  }

  /** The model id of a `versions/<id>.json` key, or `undefined` for any other key. */
  modelIdOfVersionKey(domain: string, key: string): string | undefined {
    return jsonNameUnder(this.versionsPrefix(domain), key);
  }

  /** `<root>/.projects/` — every project and membership document, in one listing. */
  projectsPrefix(): string {
    return `${this.root}/.projects/`;
  }

  /** `<root>/.projects/<project>.json` */
  projectKey(project: string): string {
    return `${this.projectsPrefix()}${validateProject(project)}.json`;
  }

  /** `<root>/.projects/<project>/<domain>.json`: the task `domain` belongs to `project`. */
  membershipKey(project: string, domain: string): string {
    return `${this.projectsPrefix()}${validateProject(project)}/${validateDomain(domain)}.json`;
  }

  /**
   * What a key under {@link projectsPrefix} is: a project document, a membership,
   * or `undefined` for anything else (temp files, foreign keys).
   */
  parseProjectsKey(key: string): { project: string; task?: string } | undefined {
    const start = this.projectsPrefix();
    if (!key.startsWith(start) || !key.endsWith(".json")) return undefined;
    const parts = key.slice(start.length, -".json".length).split("/");
    if (parts.length === 1 && parts[0]) return { project: parts[0] };
    if (parts.length === 2 && parts[0] && parts[1]) return { project: parts[0], task: parts[1] };
    return undefined;
  }

  /** The domain name of a `<root>/<domain>/` common prefix, or `undefined`. */
  domainOfPrefix(prefix: string): string | undefined {
    const start = this.domainsPrefix();
    if (!prefix.startsWith(start)) return undefined;
    const name = prefix.slice(start.length).replace(/\/$/, "");
    return name.length > 0 && !name.includes("/") ? name : undefined;
  }
}

/** `name` of a `<prefix><name>.json` key directly under `prefix` (not in a sub-folder), or `undefined` for any other key. */
export function jsonNameUnder(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix) || !key.endsWith(".json")) return undefined;
  const name = key.slice(prefix.length, -".json".length);
  return name.length > 0 && !name.includes("/") ? name : undefined;
}
