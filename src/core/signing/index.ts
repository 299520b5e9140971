/**
 * Shared wire formats that are signed or hashed: canonical JSON, Ed25519 keys
 * and signatures, the bundle envelope, node request signing. Pure (node:crypto
 * only) and in core so that the hub, the agent and the CLI use one
 * implementation; a byte of disagreement would make valid signatures fail.
 */
export * from "./canonicalJson.js";
export * from "./ed25519.js";
export * from "./bundleFormat.js";
export * from "./nodeSigning.js";
