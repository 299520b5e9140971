/**
 * The fleet verbs (login, context, org, token, enrollment-token, node,
 * publisher, publisher key, workload sign/push, deploy, status) through the
 * CLI's `main`, against a hub listening on a random loopback port.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enrollNode } from "../../src/agent/hubClient.js";
import { parseLabels, parseSelector } from "../../src/cli/labelArgs.js";
import { runCli } from "../runCli.js";
import { bundleDigest, canonicalBundleBytes, parseBundleBytes, verifyBundleSignature } from "../../src/core/signing/bundleFormat.js";
import { generateEd25519 } from "../../src/core/signing/ed25519.js";
import { startHub, type RunningHub } from "../../src/hub/startHub.js";
import { scratchDb, type ScratchDb } from "../hub/helpers.js";

const cli = runCli;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CLI JSON is checked field by field
async function json(args: string[]): Promise<any> {
  const r = await cli([...args, "--json"]);
  if (r.code !== 0) throw new Error(`palisade ${args.join(" ")}: ${r.code} ${r.out}${r.err}`);
  return JSON.parse(r.out);
}

const IMAGE = `busybox@sha256:${"b".repeat(64)}`;

describe("fleet CLI verbs", () => {
  let db: ScratchDb;
  let hub: RunningHub;
  let dir: string;
  const prevConfig = process.env.PALISADE_CONFIG_DIR;
  const prevEnv = { hub: process.env.PALISADE_HUB, token: process.env.PALISADE_TOKEN };

  beforeAll(async () => {
    delete process.env.PALISADE_HUB;
    delete process.env.PALISADE_TOKEN;
    dir = mkdtempSync(join(tmpdir(), "palisade-cli-"));
    process.env.PALISADE_CONFIG_DIR = join(dir, "config");
    db = await scratchDb({ name: "sqlite" });
    hub = await startHub({ listen: "127.0.0.1:0", dbUrl: db.url });
  });
  afterAll(async () => {
    await hub.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
    if (prevConfig === undefined) delete process.env.PALISADE_CONFIG_DIR;
    else process.env.PALISADE_CONFIG_DIR = prevConfig;
    if (prevEnv.hub !== undefined) process.env.PALISADE_HUB = prevEnv.hub;
    if (prevEnv.token !== undefined) process.env.PALISADE_TOKEN = prevEnv.token;
  });

  it("without a login, verbs say how to log in", async () => {
    const r = await cli(["node", "ls"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error USAGE: no hub to talk to: not logged in\n {2}hint: palisade login --hub URL --token TOKEN/);
  });

  it("login checks the token first, then saves a private context and makes it current", async () => {
    const bad = await cli(["login", "--hub", hub.url, "--token", "pat_0000000000000000_nope"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/error HUB_UNAUTHENTICATED/);
    const r = await json(["login", "--hub", `${hub.url}/`, "--token", hub.bootstrap!.token]);
    expect(r).toMatchObject({ context: "default", hub: hub.url, org: "default", role: "admin" });
    const file = join(process.env.PALISADE_CONFIG_DIR!, "contexts.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(process.env.PALISADE_CONFIG_DIR!).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, "utf8")).current).toBe("default");
    const ls = await json(["context", "ls"]);
    expect(ls).toEqual([expect.objectContaining({ name: "default", current: true, hub: hub.url })]);
    expect(JSON.stringify(ls)).not.toContain(hub.bootstrap!.token);
  });

  it("orgs and API tokens: create, list, revoke; a second context for another org; switching", async () => {
    const org = await json(["org", "create", "berlin"]);
    expect(org.adminToken.token).toMatch(/^pat_/);
    expect((await json(["org", "ls"])).map((o: { name: string }) => o.name).sort()).toEqual(["berlin", "default"]);
    await json(["login", "--hub", hub.url, "--token", org.adminToken.token, "--context", "ber"]);
    expect((await json(["status"])).org).toBe("berlin");
    expect((await json(["status", "--context", "default"])).org).toBe("default");
    expect((await cli(["context", "use", "default"])).code).toBe(0);
    expect((await cli(["context", "use", "nope"])).err).toMatch(/no context named "nope"/);

    const t = await json(["token", "create", "--role", "viewer", "--name", "dash", "--expires", "30d"]);
    expect(t).toMatchObject({ role: "viewer", name: "dash" });
    expect(Date.parse(t.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await json(["status", "--hub", hub.url, "--token", t.token])).role).toBe("viewer");
    expect((await cli(["token", "revoke", t.id])).code).toBe(0);
    expect((await cli(["status", "--hub", hub.url, "--token", t.token])).err).toMatch(/HUB_UNAUTHENTICATED/);
    expect((await json(["token", "ls"])).find((x: { id: string }) => x.id === t.id).revokedAt).not.toBeNull();
    expect((await cli(["token", "create", "--role", "root"])).code).toBe(2);
  });

  it("publisher, keys (private key 0600, never overwritten), sign, push, deploy, nodes, status", async () => {
    await json(["publisher", "create", "acme"]);
    const keyFile = join(dir, "acme.key");
    const key = await json(["publisher", "key", "create", "acme", "--out", keyFile, "--name", "ci"]);
    expect(key.keyId).toMatch(/^ed25519:[0-9a-f]{32}$/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect((await cli(["publisher", "key", "create", "acme", "--out", keyFile])).err).toMatch(/is never overwritten/);
    expect((await json(["publisher", "key", "ls", "acme"])).map((k: { keyId: string }) => k.keyId)).toEqual([key.keyId]);

    const et = await json(["enrollment-token", "create", "--uses", "3", "--expires", "2h", "--labels", "site=lab,role=gw"]);
    expect(et).toMatchObject({ maxUses: 3, labels: { site: "lab", role: "gw" } });
    const { publicKey, privateKey } = generateEd25519();
    const node = await enrollNode({ hubUrl: hub.url, token: et.token, publicKey, privateKey, hostname: "dev1", labels: {} });
    expect(node.publisherKeys.map((k) => k.keyId)).toEqual([key.keyId]);
    expect((await json(["enrollment-token", "ls"])).find((x: { id: string }) => x.id === et.id).uses).toBe(1);

    const manifest = join(dir, "thermo.yaml");
    const workloadDoc = `# the thermostat\napiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: thermo\n  labels: {app: thermo}\nspec:\n  containers:\n  - name: main\n    image: ${IMAGE}\n    command: [/bin/sh, -c, "sleep 1000"]\n`;
    const policyDoc = `apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p1}\nspec:\n  selector: {matchLabels: {app: thermo}}\n  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n`;
    writeFileSync(manifest, `${workloadDoc}---\n${policyDoc}`);
    const extra = join(dir, "extra.yaml");
    writeFileSync(extra, `apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p2}\nspec:\n  selector: {matchLabels: {app: thermo}}\n  process:\n    matchPaths:\n    - path: /bin/nc\n  action: Block\n`);
    const out = join(dir, "thermo.bundle.json");
    const signed = await json(["workload", "sign", manifest, "--policy", extra, "--key", keyFile, "--version", "3", "-o", out]);
    const file = JSON.parse(readFileSync(out, "utf8"));
    expect(signed).toMatchObject({ name: "thermo", version: 3, keyId: key.keyId, digest: bundleDigest(file.envelope) });
    // What devices will check: canonical bytes, digest, signature by the registered key.
    expect(parseBundleBytes(canonicalBundleBytes(file.envelope), signed.digest).workload).toBe(workloadDoc);
    expect(verifyBundleSignature(signed.digest, file.signature, node.publisherKeys[0]!.publicKey)).toBe(true);
    expect(file.envelope.policies).toContain("name: p1");
    expect(file.envelope.policies).toContain("name: p2");
    expect(file.envelope.images).toEqual([{ ref: "busybox", digest: `sha256:${"b".repeat(64)}` }]);

    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, workloadDoc.replace("containers:", "containerz:"));
    const bad = await cli(["workload", "sign", broken, "--key", keyFile, "--version", "1", "-o", join(dir, "x.json")]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/broken\.yaml: error POLICY_SCHEMA/);
    expect((await cli(["workload", "sign", manifest, "--key", keyFile, "--version", "0", "-o", "-"])).code).toBe(2);

    expect((await json(["workload", "push", out])).digest).toBe(signed.digest);
    expect((await json(["workload", "push", out])).digest).toBe(signed.digest);
    expect((await cli(["deploy", "thermo", "--bundle", signed.digest])).err).toMatch(/needs --selector/);
    const dep = await json(["deploy", "thermo", "--bundle", signed.digest, "--selector", "site=lab,role!=canary"]);
    expect(dep).toMatchObject({ name: "thermo", revision: 1, selector: { matchLabels: { site: "lab" }, matchExpressions: [{ key: "role", operator: "NotIn", values: ["canary"] }] } });
    expect((await json(["deploy", "thermo", "--all-nodes"])).revision).toBe(2);

    const nodes = await json(["node", "ls", "--selector", "site=lab"]);
    expect(nodes.map((n: { id: string }) => n.id)).toEqual([node.nodeId]);
    const labelled = await json(["node", "label", node.nodeId, "zone=b", "role-"]);
    expect(labelled.labels).toEqual({ site: "lab", zone: "b" });
    expect((await json(["node", "describe", node.nodeId])).hostname).toBe("dev1");
    const status = await json(["status"]);
    expect(status).toMatchObject({ org: "default", nodes: { total: 1, "never-seen": 1 }, deployments: [{ name: "thermo", bundle: "thermo v3", revision: 2 }] });

    expect((await cli(["node", "revoke", node.nodeId, "--reason", "lost"])).code).toBe(0);
    expect((await json(["node", "describe", node.nodeId])).status).toBe("revoked");
    expect((await cli(["publisher", "key", "revoke", "acme", key.keyId, "--reason", "rotated"])).code).toBe(0);
    expect((await json(["publisher", "key", "ls", "acme"]))[0].revokedAt).not.toBeNull();
    expect((await json(["deploy", "thermo", "--delete"])).name).toBe("thermo");
    expect((await cli(["enrollment-token", "revoke", et.id])).code).toBe(0);
  });

  it("reads labels and selectors in kubectl's spelling", () => {
    expect(parseLabels("site=berlin, role=gw")).toEqual({ site: "berlin", role: "gw" });
    expect(() => parseLabels("site")).toThrow(/not a label key=value/);
    expect(() => parseLabels("bad key=x")).toThrow(/not a label/);
    expect(parseSelector("a=1,b!=2,c,!d")).toEqual({
      matchLabels: { a: "1" },
      matchExpressions: [
        { key: "b", operator: "NotIn", values: ["2"] },
        { key: "c", operator: "Exists" },
        { key: "d", operator: "DoesNotExist" },
      ],
    });
    expect(parseSelector("")).toEqual({});
    expect(() => parseSelector("!a=1")).toThrow(/cannot read/);
  });
});
