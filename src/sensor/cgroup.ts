/**
 * cgroup v2 ids, the key the BPF sensor filters on. The id the kernel reports
 * (bpf_get_current_cgroup_id) is the inode number of the cgroup's directory
 * in the cgroup2 filesystem. On hybrid hosts (ours) that filesystem is
 * mounted at /sys/fs/cgroup/unified and runc places containers there.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PalisadeError } from "../core/errors.js";

/** Where the cgroup2 filesystem is mounted, from /proc/self/mountinfo; undefined when it is not. */
export function cgroup2Mount(mountinfo = "/proc/self/mountinfo"): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    // "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
    const [left, right] = line.split(" - ");
    if (right?.startsWith("cgroup2 ")) return left?.split(" ")[4]?.replace(/\\040/g, " ");
  }
  return undefined;
}

/** The cgroup id (decimal string) of a cgroup2 directory. */
export function cgroupIdOfPath(dir: string): string {
  try {
    const st = statSync(dir, { bigint: true });
    if (!st.isDirectory()) throw new Error("not a directory");
    return st.ino.toString();
  } catch (cause) {
    throw new PalisadeError("NATIVE", `${dir} is not a cgroup directory`, {
      hint: "pass a directory of the cgroup v2 tree (on hybrid hosts under /sys/fs/cgroup/unified)",
      cause,
    });
  }
}

/** The cgroup v2 path of a live process ("0::/path" in /proc/PID/cgroup), or undefined. */
export function cgroupPathOfPid(pid: number): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"));
    return line?.slice(3);
  } catch {
    return undefined; // exited, or not Linux
  }
}

/** The cgroup id of a live process, or undefined when it has exited or cgroup2 is not mounted. */
export function cgroupIdOfPid(pid: number, mount = cgroup2Mount()): string | undefined {
  const rel = cgroupPathOfPid(pid);
  if (rel === undefined || mount === undefined) return undefined;
  try {
    return statSync(join(mount, rel), { bigint: true }).ino.toString();
  } catch {
    return undefined;
  }
}
