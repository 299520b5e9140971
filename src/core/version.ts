/** Palisade's version; kept in step with package.json by test/version.test.ts. */
export const PALISADE_VERSION = "0.1.0";
