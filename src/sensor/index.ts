/** The sensor: kernel events (BPF tracepoints, audit denials) → typed events → KubeArmor-shaped logs and alerts. */
export * from "./events.js";
export * from "./cgroup.js";
export * from "./processTable.js";
export * from "./sensorProcess.js";
export * from "./kubearmor.js";
export * from "./eventStore.js";
export * from "./eventPipeline.js";
export * from "./denialCorrelator.js";
export * from "./implicitGrants.js";
export * from "./runSensor.js";
