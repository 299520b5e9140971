/** Moved to src/core/signing/bundleFormat.ts (shared with the agent and the CLI); kept so existing imports work. */
export * from "../core/signing/bundleFormat.js";
