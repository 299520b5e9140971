/**
 * The compiler's public API: the frozen policy model + a workload + what the
 * host can enforce → per-backend artifacts. One compile function per
 * backend, each listing what it cannot express; compileWorkload combines
 * them and fails closed. See docs/confinement.md.
 */
export { compileWorkload, demoteToAudit, type CompiledWorkload, type CompileWorkloadOptions } from "./compileWorkload.js";
export { compileOciSpec, buildMounts, planUserNamespace, programOf, resolveUser, MASKED_PATHS, READONLY_PATHS, DEFAULT_PIDS_LIMIT, OOM_SCORE_ADJ, type UserNamespacePlan } from "./ociSpec.js";
export { compileSeccomp, PROTOCOL_SOCKETS, SECCOMP_ARCH, type SeccompInputs, type SeccompResult, type SeccompSummary } from "./seccompProfile.js";
export { DEFAULT_ALLOWED, NOTABLE_BLOCKED } from "./seccompSyscalls.js";
export { compileLandlock, RUNTIME_NEEDS, type LandlockInputs, type LandlockResult } from "./landlockRules.js";
export { compileComplement, resolveInRootfs, FILE_RIGHTS, type Grant, type Target, type RootfsView, type MountPoint } from "./rootfsComplement.js";
export { compileAppArmor, apparmorCannotExpress, apparmorProfileName } from "./apparmorProfile.js";
export { resolveInterfaceGrants, INTERFACE_GRANTS, splitDev, type InterfaceGrants, type GrantedDevice, type GrantedMount } from "./interfaceGrants.js";
export type * from "./ociTypes.js";
export * from "./types.js";
export { confinementReport, confinementLine, type ConfinementReport } from "./confinementReport.js";
