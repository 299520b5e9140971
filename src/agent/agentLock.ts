/**
 * One agent per data directory: two agents sharing a store would both
 * start every workload. The lock is a pid file created with O_EXCL; a file
 * left by a dead agent (kill -9, power loss) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { PalisadeError } from "../core/errors.js";

function alive(pid: number): boolean {
  if (!(pid > 0) || pid === process.pid) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("agent");
  } catch {
    return false;
  }
}

export function acquireAgentLock(path: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(path, "utf8").trim()) === process.pid) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (alive(pid)) {
        throw new PalisadeError("AGENT_STATE", `another agent (pid ${pid}) is running on this data directory`, { hint: "stop it first, or give this one its own --data-dir" });
      }
      rmSync(path, { force: true });
    }
  }
  throw new PalisadeError("AGENT_STATE", `cannot take the agent lock ${path}`, { hint: "remove the file if no agent is running" });
}
