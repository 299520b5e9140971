/** Moved to src/core/signing/canonicalJson.ts (shared with the agent and the CLI); kept so existing imports work. */
export * from "../core/signing/canonicalJson.js";
