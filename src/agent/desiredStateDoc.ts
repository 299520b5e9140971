/**
 * The desired-state document as the agent reads it (format in docs/api.md,
 * "Desired state"). Parsed strictly enough that a malformed or hostile
 * answer is an error rather than a half-applied plan; everything in it is
 * still only a claim until bundleVerifier.ts has checked the bundle itself.
 */
import { z } from "zod/v4";
import { PalisadeError } from "../core/errors.js";
import { DIGEST_RE } from "../core/signing/bundleFormat.js";

export const DESIRED_STATE_FORMAT = "palisade.desired-state/v1";
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const DesiredWorkloadSchema = z.object({
  deployment: z.string().regex(DNS_LABEL),
  deploymentId: z.string().min(1).max(128),
  revision: z.number().int(),
  bundle: z.object({
    digest: z.string().regex(DIGEST_RE),
    name: z.string().regex(DNS_LABEL),
    version: z.number().int().min(1),
    publisherId: z.string().min(1).max(128),
    keyId: z.string().min(1).max(100),
    signature: z.string().min(1).max(200),
    url: z.string(),
  }),
});

const DesiredStateSchema = z.object({
  format: z.literal(DESIRED_STATE_FORMAT),
  orgId: z.string().min(1).max(128),
  workloads: z.array(DesiredWorkloadSchema).max(1000),
  revokedKeys: z.array(z.string().min(1).max(100)).max(100_000),
});

export type DesiredWorkload = z.infer<typeof DesiredWorkloadSchema>;
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export function parseDesiredState(text: string): DesiredState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PalisadeError("HUB_BAD_REQUEST", "the hub's desired state is not JSON", { hint: "check --hub points at a Palisade hub" });
  }
  const r = DesiredStateSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new PalisadeError("HUB_BAD_REQUEST", `the hub's desired state is malformed at ${issue?.path.join(".") || "(top)"}: ${issue?.message ?? "invalid"}`, {
      hint: "the hub and agent versions may not match; nothing was changed on this device",
    });
  }
  const names = new Set<string>();
  for (const w of r.data.workloads) {
    if (names.has(w.deployment)) throw new PalisadeError("HUB_BAD_REQUEST", `the hub's desired state lists deployment ${w.deployment} twice`);
    names.add(w.deployment);
  }
  return r.data;
}
