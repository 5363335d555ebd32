/**
 * The user an upload records, found as Python's `getpass.getuser()` finds it:
 * the environment first, then the OS account. Containers and CI jobs often set
 * none of the variables, which is why the account lookup matters.
 */
import { userInfo } from "node:os";

/** Where `getpass.getuser()` looks, in its order. */
const USER_VARIABLES = ["LOGNAME", "USER", "LNAME", "USERNAME"] as const;

/**
 * LOGNAME, USER, LNAME or USERNAME from `env` (the first set and not empty),
 * else the name of the account the process runs as; undefined when the account
 * has no name (a uid with no passwd entry, as in some containers).
 * @param env the variables to read. @default process.env
 */
export function currentUser(env: Record<string, string | undefined> = process.env): string | undefined {
  for (const name of USER_VARIABLES) {
    if (env[name]) return env[name];
  }
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined; // os.userInfo() throws for a uid without a passwd entry
  }
}
