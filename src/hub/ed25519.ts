/** Moved to src/core/signing/ed25519.ts (shared with the agent and the CLI); kept so existing imports work. */
export * from "../core/signing/ed25519.js";
