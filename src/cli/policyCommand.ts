import type { Command } from "commander";

export function registerPolicyCommand(_program: Command): void {}
