/**
 * Alerts the agent raises about itself (refused bundles, revoked keys,
 * workloads that exit or could not start), in the field names of KubeArmor
 * alerts so one consumer reads both; `Type: "AgentEvent"` tells them apart
 * from kernel policy matches. Ids are derived from the event, so raising the
 * same event twice (say, after a crash between "queued" and "recorded")
 * yields one alert at the hub.
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";

export type AgentOperation = "Bundle" | "PublisherKey" | "Workload";

export interface AgentEvent {
  readonly operation: AgentOperation;
  /** What it is about: a digest, a key id, an instance. */
  readonly resource: string;
  readonly action: "Block" | "Audit";
  readonly severity: number;
  readonly message: string;
  readonly result: string;
  readonly namespace?: string;
  readonly instance?: string;
  readonly deployment?: string;
  readonly tags?: readonly string[];
}

/** A stable alert id for an event key (the same key always gives the same id). */
export function eventAlertId(...key: readonly string[]): string {
  return `a-${createHash("sha256").update(key.join("\n")).digest("hex").slice(0, 32)}`;
}

export function agentAlert(id: string, nodeId: string, ev: AgentEvent, now = new Date()): Record<string, unknown> {
  return {
    id,
    time: now.toISOString(),
    alert: {
      Timestamp: Math.floor(now.getTime() / 1000),
      UpdatedTime: now.toISOString(),
      ClusterName: "palisade",
      HostName: hostname(),
      NodeID: nodeId,
      NamespaceName: ev.namespace ?? "",
      PodName: ev.instance ?? "",
      Labels: ev.deployment ? `palisade.dev/deployment=${ev.deployment}` : "",
      Type: "AgentEvent",
      Source: "palisade-agent",
      Operation: ev.operation,
      Resource: ev.resource,
      Data: "",
      Result: ev.result,
      PolicyName: "palisade-agent",
      Severity: String(ev.severity),
      Tags: (ev.tags ?? []).join(","),
      ATags: [...(ev.tags ?? [])],
      Message: ev.message,
      Enforcer: "palisade-agent",
      Action: ev.action,
    },
  };
}
