/**
 * The hub's one shared suite, run against every storage backend: SQLite
 * always, PostgreSQL when PALISADE_TEST_POSTGRES_URL is set (under CI=true it
 * must be: a missing PostgreSQL fails the run instead of skipping).
 * Each group lives in suites/ and receives the running hub of its backend.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { runnableBackends, TestHub } from "./helpers.js";
import { auditSuite } from "./suites/auditSuite.js";
import { bundleSuite } from "./suites/bundleSuite.js";
import { cliSuite } from "./suites/cliSuite.js";
import { deploymentSuite } from "./suites/deploymentSuite.js";
import { enrollmentSuite } from "./suites/enrollmentSuite.js";
import { ingestionSuite } from "./suites/ingestionSuite.js";
import { migrationSuite } from "./suites/migrationSuite.js";
import { nodeAuthSuite } from "./suites/nodeAuthSuite.js";
import { openApiSuite } from "./suites/openApiSuite.js";
import { roleSuite } from "./suites/roleSuite.js";
import { validationSuite } from "./suites/validationSuite.js";

describe.each(runnableBackends())("hub on $name", (backend) => {
  const t = new TestHub(backend);
  beforeAll(async () => {
    await t.start();
  });
  afterAll(async () => {
    await t.stop();
  });

  migrationSuite(t);
  roleSuite(t);
  enrollmentSuite(t);
  nodeAuthSuite(t);
  bundleSuite(t);
  deploymentSuite(t);
  ingestionSuite(t);
  validationSuite(t);
  openApiSuite(t);
  auditSuite(t);
  cliSuite(t);
});
