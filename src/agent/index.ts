/** The agent part's public API (used by the CLI and tests). See docs/agent.md. */
export { Agent, type AgentOptions } from "./agent.js";
export { AgentLog, type AgentLogOptions, type LogLevel } from "./agentLog.js";
export { agentPaths, type AgentPaths } from "./agentPaths.js";
export { AgentStore, openAgentDb, type AcceptedWorkload, type Identity, type InstanceRecord, type PinnedKey } from "./agentStore.js";
export { Backoff, jittered } from "./backoff.js";
export { verifyBundle, type BundleClaim, type TrustView } from "./bundleVerifier.js";
export { execBundle } from "./execBundle.js";
export { hubFetch, hubResponseError, hubUrl, isTransient } from "./hubHttp.js";
export { Outbox, type OutboxKind } from "./outbox.js";
export { parseDuration, formatDuration } from "./parseDuration.js";
export type { RevokedKeyMode } from "./desiredStateSync.js";
