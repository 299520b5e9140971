/**
 * Shared setup for runtime integration tests: a private data directory, the
 * busybox test image, the probed host features, and a Workload builder.
 * Tests that run containers need root, runc, busybox and the native
 * binaries (scripts/setup.sh builds them); kernelIt skips locally and fails
 * under CI when one is missing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostFeatures } from "../../src/native/hostFeatures.js";
import { launcherPath, probePath } from "../../src/native/binaries.js";
import { probeHost, resetProbeCache } from "../../src/native/probe.js";
import { parseDocuments, type Policy, type Workload } from "../../src/policy/index.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { buildBusyboxImage, haveBusybox } from "../fixtures/images.js";
import { ROOT, type Requirement } from "../kernelTest.js";

export const RUNC: Requirement = {
  feature: "runc",
  check: () => (spawnSync("runc", ["--version"], { env: { PATH: "/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin" } }).status === 0 ? null : "runc is not installed (apt-get install runc)"),
};
export const BUSYBOX: Requirement = { feature: "busybox-static", check: () => (haveBusybox() ? null : "/bin/busybox is missing (apt-get install busybox-static)") };
export const NATIVE: Requirement = {
  feature: "native binaries",
  check: () => (existsSync(launcherPath()) && existsSync(probePath()) ? null : `${launcherPath()} or ${probePath()} is not built (run: bash scripts/setup.sh)`),
};
/** Everything a container test needs. */
export const CONTAINERS: readonly Requirement[] = [ROOT, RUNC, BUSYBOX, NATIVE];

export interface RuntimeFixture {
  store: ImageStore;
  image: string;
  features: HostFeatures;
  dataDir: string;
}

/** Points PALISADE_DATA_DIR at a fresh directory, builds the busybox image and probes the host. */
export async function setupRuntime(): Promise<RuntimeFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), "palisade-rt-"));
  process.env.PALISADE_DATA_DIR = dataDir;
  const store = ImageStore.open();
  const rec = await buildBusyboxImage(store, "busybox:test");
  resetProbeCache();
  const features = await probeHost();
  return { store, image: `busybox@${rec.digest}`, features, dataDir };
}

export function teardownRuntime(f: RuntimeFixture | undefined, previous: string | undefined): void {
  if (previous === undefined) delete process.env.PALISADE_DATA_DIR;
  else process.env.PALISADE_DATA_DIR = previous;
  if (f) rmSync(f.dataDir, { recursive: true, force: true });
}

/** A busybox Workload running `sh -c script`, plus policies (KubeArmorPolicy spec bodies). */
export function busyboxWorkload(image: string, script: string, o: { name?: string; containerYaml?: string; spec?: string; policies?: string[] } = {}): { workload: Workload; policies: Policy[] } {
  const name = o.name ?? "demo";
  let text = `apiVersion: palisade.dev/v1
kind: Workload
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  containers:
  - name: main
    image: ${image}
    command: [/bin/sh, -c, ${JSON.stringify(script)}]
${o.containerYaml ?? ""}${o.spec ?? ""}`;
  (o.policies ?? []).forEach((body, i) => {
    text += `---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: ${name}-p${i}}\nspec:\n  selector: {matchLabels: {app: ${name}}}\n${body}`;
  });
  const r = parseDocuments(text, `${name}.yaml`);
  if (r.errors.length) throw new Error(r.errors.map((e) => e.message).join("; "));
  return { workload: r.workloads[0]!, policies: [...r.policies] };
}
