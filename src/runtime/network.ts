/**
 * The `network` interface: a per-workload network namespace with a veth
 * pair to the host and NAT for outbound IPv4 (docs/interfaces.md).
 *
 * The namespace is made before runc starts (`ip netns add`) and the
 * container joins it by path, so everything is wired before the workload's
 * first instruction, and the namespace belongs to the host's user namespace:
 * the workload (no CAP_NET_ADMIN there) cannot change its own addresses,
 * routes or firewall. Host side, one nftables table `ip palisade`:
 *
 *   postrouting  masquerade traffic from 10.89.0.0/16 leaving by a non-workload interface
 *   forward      workload → workload: drop; workload → world: accept; replies back: accept
 *   input        workload → the host itself: only replies (no host services reachable)
 *
 * Each workload gets a /30 of 10.89.0.0/16: host .1, workload .2.
 * Enabling it sets net.ipv4.ip_forward=1 on the host (as every container
 * engine does). Workloads without the interface get a fresh namespace from
 * runc with only loopback.
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { PalisadeError } from "../core/errors.js";
import { sbinEnv } from "./runcDriver.js";

const exec = promisify(execFile);

export const SUBNET = "10.89.0.0/16";
export const MAX_NETWORK_SLOTS = 16384;
const IF_PREFIX = "pal";

export interface WorkloadNetwork {
  readonly netns: string;
  /** Path of the named namespace, for the OCI spec. */
  readonly netnsPath: string;
  readonly hostIf: string;
  readonly hostAddress: string;
  readonly address: string;
  /** Nameservers for the workload's resolv.conf. */
  readonly nameservers: readonly string[];
}

async function run(cmd: string, args: readonly string[], input?: string): Promise<void> {
  try {
    if (input === undefined) {
      await exec(cmd, [...args], { env: sbinEnv(), timeout: 30_000 });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const child = execFile(cmd, [...args], { env: sbinEnv(), timeout: 30_000 }, (err) => (err ? reject(err) : resolve()));
      child.stdin?.end(input);
    });
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException & { stderr?: string };
    const missing = e.code === "ENOENT";
    throw new PalisadeError("RUNTIME", missing ? `${cmd} is not installed` : `${cmd} ${args.join(" ")} failed: ${(e.stderr ?? e.message).trim()}`, {
      hint: missing ? "install iproute2 and nftables (scripts/setup.sh does)" : "the network interface needs iproute2, nftables and root",
      cause,
    });
  }
}

export function addresses(slot: number): { host: string; workload: string } {
  const base = (10 << 24) | (89 << 16) | (slot * 4);
  const ip = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  return { host: ip(base + 1), workload: ip(base + 2) };
}

/** Named by the host-wide slot, not the workload id: ids repeat across data directories. */
export function netnsName(slot: number): string {
  return `palisade-net${slot}`;
}

/** Host nameservers the workload can reach (loopback resolvers are not reachable from its namespace). */
export function hostNameservers(resolvConf = "/etc/resolv.conf"): string[] {
  let text = "";
  try {
    text = readFileSync(resolvConf, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined && !s.startsWith("127.") && s !== "::1" && s.includes("."));
}

const NFT_TABLE = `
add table ip palisade
add chain ip palisade postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip palisade forward { type filter hook forward priority filter; policy accept; }
add chain ip palisade input { type filter hook input priority filter; policy accept; }
flush chain ip palisade postrouting
flush chain ip palisade forward
flush chain ip palisade input
add rule ip palisade postrouting ip saddr ${SUBNET} oifname != "${IF_PREFIX}*" masquerade
add rule ip palisade forward iifname "${IF_PREFIX}*" oifname "${IF_PREFIX}*" drop
add rule ip palisade forward iifname "${IF_PREFIX}*" accept
add rule ip palisade forward oifname "${IF_PREFIX}*" ct state established,related accept
add rule ip palisade forward oifname "${IF_PREFIX}*" drop
add rule ip palisade input iifname "${IF_PREFIX}*" ct state established,related accept
add rule ip palisade input iifname "${IF_PREFIX}*" drop
`;

/** Creates the namespace, the veth pair, addresses, routes and the host's NAT table. */
export async function setupNetwork(id: string, slot: number): Promise<WorkloadNetwork> {
  const netns = netnsName(slot);
  const hostIf = `${IF_PREFIX}${slot}h`;
  const peer = `${IF_PREFIX}${slot}c`;
  const { host, workload } = addresses(slot);
  await teardownNetwork(id, slot);
  try {
    await run("ip", ["netns", "add", netns]);
    await run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peer]);
    await run("ip", ["link", "set", peer, "netns", netns]);
    await run("ip", ["-n", netns, "link", "set", peer, "name", "eth0"]);
    await run("ip", ["-n", netns, "addr", "add", `${workload}/30`, "dev", "eth0"]);
    await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", netns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", netns, "route", "add", "default", "via", host]);
    await run("ip", ["addr", "add", `${host}/30`, "dev", hostIf]);
    await run("ip", ["link", "set", hostIf, "up"]);
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1\n");
    await run("nft", ["-f", "-"], NFT_TABLE);
  } catch (e) {
    await teardownNetwork(id, slot);
    throw e;
  }
  return { netns, netnsPath: `/run/netns/${netns}`, hostIf, hostAddress: host, address: workload, nameservers: hostNameservers() };
}

/** Removes the namespace (which destroys the veth pair). Idempotent; the shared nftables table stays. */
export async function teardownNetwork(id: string, slot: number): Promise<void> {
  await run("ip", ["netns", "del", netnsName(slot)]).catch(() => undefined);
  await run("ip", ["link", "del", `${IF_PREFIX}${slot}h`]).catch(() => undefined);
}
