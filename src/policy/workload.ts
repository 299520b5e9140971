/**
 * The frozen model of Palisade's `Workload` manifest (apiVersion
 * `palisade.dev/v1`, kind `Workload`): a Pod-style spec plus snap-style
 * interfaces. The parser that builds it lives beside this file; the runtime
 * turns it into OCI bundles. Interface semantics (what each grants) are in
 * `interfaces.ts` and docs/interfaces.md.
 */
import type { Origin, Posture, PostureCategory } from "./model.js";

export type InterfaceName =
  | "network"
  | "network-bind"
  | "camera"
  | "serial-port"
  | "gpio"
  | "i2c"
  | "removable-media"
  | "home"
  | "hardware-observe";

export interface InterfaceGrant {
  readonly kind: "interface";
  readonly name: InterfaceName;
  /**
   * Device-style interfaces (serial-port, gpio, i2c, camera) may narrow the
   * grant to named device nodes; empty = every node the interface covers.
   */
  readonly devices: readonly string[];
  /** network-bind: the ports the workload may listen on (empty = none but declared container ports). */
  readonly ports: readonly number[];
  /** removable-media, home: grant write access (default read-only). */
  readonly writable: boolean;
  readonly origin: Origin;
}

export interface EnvVar {
  readonly name: string;
  readonly value: string;
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
}

export type Volume =
  | { readonly kind: "emptyDir"; readonly name: string; readonly medium: "" | "Memory"; readonly sizeLimitBytes?: number }
  | { readonly kind: "hostPath"; readonly name: string; readonly path: string }
  | { readonly kind: "persistent"; readonly name: string };

export type Probe = {
  readonly initialDelaySeconds: number;
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
} & (
  | { readonly kind: "exec"; readonly command: readonly string[] }
  | { readonly kind: "httpGet"; readonly path: string; readonly port: number }
  | { readonly kind: "tcpSocket"; readonly port: number }
);

export interface Resources {
  /** CPU limit in millicores (e.g. "500m" → 500, "2" → 2000). */
  readonly cpuMillis?: number;
  readonly memoryBytes?: number;
  readonly pids?: number;
}

export interface SecurityContext {
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  readonly runAsNonRoot: boolean;
  /** Palisade keeps the root read-only; false is accepted only with a reason in the manifest. */
  readonly readOnlyRootFilesystem: boolean;
  readonly allowPrivilegeEscalation: false;
  /** Capabilities added back (all are dropped by default), lower-case without `cap_`. */
  readonly capabilitiesAdd: readonly string[];
  /** Why the root filesystem must be writable (`securityContext.writableRootReason`); set iff readOnlyRootFilesystem is false. */
  readonly writableRootReason?: string;
}

export interface Container {
  readonly name: string;
  /** `name@sha256:<64 hex>`: images are always pinned by digest. */
  readonly image: string;
  readonly imageDigest: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly env: readonly EnvVar[];
  readonly workingDir?: string;
  readonly volumeMounts: readonly VolumeMount[];
  readonly ports: readonly { readonly containerPort: number; readonly protocol: "TCP" | "UDP" }[];
  readonly resources: Resources;
  readonly securityContext: SecurityContext;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
}

export interface Workload {
  readonly kind: "workload";
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly containers: readonly Container[];
  readonly volumes: readonly Volume[];
  readonly interfaces: readonly InterfaceGrant[];
  readonly restartPolicy: "Always" | "OnFailure" | "Never";
  readonly origin: Origin;
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * `spec.defaultPosture`: what happens to operations an allow-list does not
   * list. The parser always sets it (Block unless the manifest says audit).
   */
  readonly defaultPosture?: Readonly<Record<PostureCategory, Posture>>;
}
