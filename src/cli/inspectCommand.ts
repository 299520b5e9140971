/**
 * `palisade inspect NAME [--json]`: a workload's effective confinement —
 * namespaces, capabilities, seccomp, the rules each backend enforces, what
 * is only audited or unsupported, devices and mounts. The data is the
 * compile result recorded at start (state.json), so it is exactly what runc
 * and the launcher were given.
 */
import type { Command } from "commander";
import type { ConfinementReport } from "../compiler/index.js";
import { inspectWorkload, type WorkloadView } from "../runtime/workloads.js";
import { formatTable, printJson } from "./output.js";
import { psRow } from "./psCommand.js";

export function renderConfinement(c: ConfinementReport): string {
  const out: string[] = [];
  const line = (s = "") => out.push(s);
  line(`Policies:     ${c.policies.length ? c.policies.join(", ") : "none"}${c.auditOnly ? "   [AUDIT MODE: policy blocks nothing]" : ""}`);
  line(`Namespaces:   ${c.namespaces.join(", ")}`);
  line(`  user namespace ${c.userNamespace.enabled ? "on" : "off"}: ${c.userNamespace.reason}`);
  line(`  network: ${c.network}`);
  line(`User:         uid ${c.user.uid}, gid ${c.user.gid}${c.user.additionalGids.length ? `, groups ${c.user.additionalGids.join(",")}` : ""}`);
  line(`Capabilities: ${c.capabilities.length ? c.capabilities.join(", ") : "none"} (all others dropped from every set); no_new_privs ${c.noNewPrivileges ? "on" : "OFF"}`);
  line(`Root:         ${c.rootReadOnly ? "read-only" : "WRITABLE"}`);
  const s = c.seccomp;
  line(`Seccomp:      default ${s.defaultAction}, ${s.architectures.join(",")}; ${s.allowed} syscalls allowed; conditional: ${s.conditional.join(", ") || "none"}`);
  line(`  logged (audit): ${s.logged.join(", ") || "none"}`);
  line(`  blocked by policy: ${s.blockedByPolicy.join(", ") || "none"}`);
  line(`  notable blocked: ${s.blockedNotable.join(", ")}`);
  line(`  socket(): ${Object.entries(s.protocols).map(([p, a]) => `${p} ${a}`).join(", ")}; AF_UNIX, AF_NETLINK allowed; other families refused`);
  if (c.landlock) {
    const l = c.landlock;
    line(`Landlock:     min ABI ${l.minAbi}; ${l.handledFs.length} fs rights handled; ${l.pathRules} path rules; net ${l.handledNet.join(",") || "unrestricted"}; bind ports ${l.ports.join(",") || "none"}; scopes ${l.scopes.join(",") || "none"}`);
  } else {
    line("Landlock:     not used");
  }
  line(`AppArmor:     ${c.apparmor.name} (${c.apparmor.loaded ? "loaded" : "generated, not loaded"})`);
  line(`Resources:    memory ${c.resources.memoryBytes ?? "unlimited"}, cpu ${c.resources.cpuQuota ?? "unlimited"}, pids ${c.resources.pids ?? "unlimited"}`);
  line();
  line("Backends:");
  out.push(
    indent(
      formatTable(
        ["BACKEND", "AVAILABLE", "USED", "RULES", "WHAT IT DOES HERE"],
        c.backends.map((b) => [b.name, b.available ? "yes" : "no", b.used ? "yes" : "no", String(b.rules), b.notes.join("; ") || (b.available ? "" : b.reason)]),
      ),
    ),
  );
  line("Policy rules enforced:");
  out.push(c.enforced.length ? indent(formatTable(["BACKEND", "RULE", "WHERE", "HOW"], c.enforced.map((e) => [e.backend, e.rule, e.where, e.how]))) : "  none\n");
  line("Audited only (recorded for the sensor):");
  out.push(c.audited.length ? c.audited.map((a) => `  ${a.rule}  (${a.where})\n`).join("") : "  none\n");
  line("Unsupported:");
  out.push(c.unsupported.length ? c.unsupported.map((u) => `  ${u.rule} (${u.where}) [${u.backend}]: ${u.reason}\n`).join("") : "  none (every rule is enforced or audited)\n");
  line("Interfaces:");
  out.push(c.interfaces.length ? c.interfaces.map((i) => `  ${i}\n`).join("") : "  none\n");
  line(`Devices:      ${c.devices.length ? c.devices.map((d) => `${d.path} (${d.type} ${d.major}:${d.minor}, ${d.interface})`).join(", ") : "only /dev/null, zero, full, random, urandom, tty, pts"}`);
  line("Mounts:");
  out.push(indent(formatTable(["DESTINATION", "TYPE", "SOURCE", "OPTIONS"], c.mounts.map((m) => [m.destination, m.type, m.source, m.options.join(",")]))));
  line(`Masked:       ${c.maskedPaths.join(", ")}`);
  line(`Read-only:    ${c.readonlyPaths.join(", ")}`);
  return out.map((l) => (l.endsWith("\n") ? l : `${l}\n`)).join("");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n");
}

export function renderInspect(v: WorkloadView): string {
  const s = v.state;
  const head = [
    `Workload:     ${s.namespace}/${s.name} (id ${s.id}, container ${s.container})`,
    `Status:       ${v.status}${s.exitCode !== undefined ? `, exit ${s.exitCode}` : ""}${s.error ? ` — ${s.error}` : ""}`,
    `PID:          ${v.runc?.pid || s.pid || "-"}`,
    `Image:        ${s.image}`,
    `Created:      ${s.createdAt}${s.startedAt ? `, started ${s.startedAt}` : ""}${s.finishedAt ? `, finished ${s.finishedAt}` : ""}`,
    ...(s.manifest ? [`Manifest:     ${s.manifest}`] : []),
  ];
  return head.join("\n") + "\n" + renderConfinement(s.confinement);
}

export function registerInspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("show a workload's effective confinement: namespaces, capabilities, seccomp, rules per backend, devices, mounts")
    .argument("<name>", "workload name, NAMESPACE/NAME, or id")
    .option("--json", "machine-readable output")
    .action(async (name: string, opts: { json?: boolean }) => {
      const v = await inspectWorkload(name);
      if (opts.json) printJson({ ...psRow(v), confinement: v.state.confinement, ...(v.runc ? { runc: v.runc } : {}) });
      else process.stdout.write(renderInspect(v));
    });
}
