/**
 * Discovery: observed events → least-permissive policy (`recommend`), a
 * per-binary profile (`profile`), and replaying recorded events against
 * policies (`policy simulate`). docs/discovery.md describes the rules.
 *
 *   recommendPolicy(records, { name, labels, namespace?, fromSource? }) → canonical policy YAML
 *   recommendPolicyData(…) → the same plus what was used and skipped
 *   summarizeProfile(records) → Profile; renderProfile(profile) → table text
 *   simulatePolicy(policies, records, { labels?, defaultPosture? }) → Simulation
 *   parseRecordLines(text, file) → records of a `palisade logs --json` file, with file:line problems
 */
export { recommendPolicy, recommendPolicyData, aggregate, describeSkipped, DIRECTORY_THRESHOLD, type RecommendOptions, type Recommendation } from "./recommendPolicy.js";
export { summarizeProfile, renderProfile, UNKNOWN_BINARY, type Profile, type BinaryProfile, type FileUse, type Denial, type Counted, type ProfileRecord } from "./summarizeProfile.js";
export { simulatePolicy, renderSimulation, parseLabelList, type Simulation, type SimulatedRecord, type SimulateOptions, type RuleTally } from "./simulatePolicy.js";
export { parseRecordLines, unwrapRecord, badLinesError, type LineRecord, type LineProblem, type RecordLike } from "./recordLines.js";
export { observe, wasRefused, canonicalPath, PERMISSION_ERRORS, type Observation, type SkipReason } from "./observations.js";
