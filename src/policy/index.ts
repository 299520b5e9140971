/**
 * The policy part's public API. Everything else in src/policy is internal.
 *
 * Parsing never throws for bad input; it returns every problem:
 *
 *   parseDocuments(text, fileName) → { policies, workloads, errors }
 *   parsePolicyFile(path)          → Promise of the same (throws PalisadeError IO if unreadable)
 *
 * `errors` is empty exactly when the whole file is valid. A document with any
 * error contributes no node, so a caller can never act on half a policy;
 * valid documents of the same file are still returned. All nodes are
 * deep-frozen and carry their origin (file, line, column, field path).
 *
 *   formatPolicy(text | node | nodes, fileName?) → canonical YAML (throws one
 *       PalisadeError with every problem in details.errors for invalid text)
 *   explainPolicy(policies, { workloads?, defaultPosture? }) → plain-language text
 *   explainPolicyData(…)  → the same as data (for --json)
 *   combinePolicies(policies, labels, { defaultPosture?, namespace?, target? }) → EffectivePolicy
 *   selects(selector, labels) → boolean
 *   evaluate(effective, operation) → Verdict (what the policy decides for one observed operation)
 *
 * Semantics, differences from KubeArmor and the normalised spellings are in
 * docs/policy.md (policies) and docs/workload.md (Workload manifests).
 */
export * from "./model.js";
export * from "./workload.js";
export { parseDocuments, parsePolicyFile, KUBEARMOR_API, PALISADE_API, type ParseResult } from "./parseDocuments.js";
export { formatPolicy, invalidFileError, type Formattable } from "./format.js";
export { explainPolicy, explainPolicyData, type ExplainOptions, type Explanation, type PolicyExplanation, type WorkloadExplanation } from "./explain.js";
export { combinePolicies, selects, resolvePosture, policyId, POSTURE_CATEGORIES, type CombineOptions } from "./combine.js";
export { patternToRegExp } from "./pathSyntax.js";
export { CAPABILITIES, SYSCALLS, MODEL_PROTOCOLS, KUBEARMOR_ONLY_PROTOCOLS, normalizeAction, normalizeCapability, normalizeProtocol } from "./vocabulary.js";
export { INTERFACES, INTERFACE_NAMES } from "./interfaceOptions.js";
export { parseCpu, parseMemory, formatCpu, formatMemory } from "./quantities.js";
export { evaluate, matchesPath, ruleText, DEFAULT_POSTURE_POLICY, type Operation, type Verdict } from "./evaluate.js";
