/**
 * `palisade hub`: run the fleet hub (docs/hub.md).
 *
 *   palisade hub [--listen 127.0.0.1:8443] [--db sqlite:PATH | postgres://…] [--data-dir D]
 *                [--tls-cert F --tls-key F] [--log-level info]
 *   palisade hub init [--org default] [--db …] [--data-dir D] [--json]
 *
 * On the first start of an empty database the hub creates org "default" and
 * prints its admin token once; `hub init` issues a new admin token for any
 * org (creating it if needed), which is also how a lost token is replaced.
 */
import type { Command } from "commander";
import { dataDir as defaultDataDir } from "../core/paths.js";
import { initOrg } from "../hub/bootstrap.js";
import { defaultDbUrl, openHubDb } from "../hub/openHubDb.js";
import { startHub, type RunningHub } from "../hub/startHub.js";
import { printJson } from "./output.js";

export interface HubDbOptions {
  db?: string;
  dataDir?: string;
}

/** --db, else PALISADE_HUB_DB, else sqlite:<data dir>/hub.sqlite. */
export function resolveHubDbUrl(opts: HubDbOptions): string {
  return opts.db ?? process.env.PALISADE_HUB_DB ?? defaultDbUrl(opts.dataDir ?? defaultDataDir());
}

export function addHubDbOptions(cmd: Command): Command {
  return cmd
    .option("--db <url>", "database: sqlite:PATH or postgres://USER:PASS@HOST:PORT/DB (env PALISADE_HUB_DB)")
    .option("--data-dir <dir>", "where the default SQLite database lives (<dir>/hub.sqlite; env PALISADE_DATA_DIR)");
}

export function tokenBanner(orgName: string, token: string, url: string | undefined, created: boolean): string {
  const base = url ?? "http://HUB:8443";
  return [
    "",
    created ? `Created org "${orgName}" and an admin API token for it.` : `Issued a new admin API token for org "${orgName}".`,
    "It is shown only this once; the hub stores just its hash. Save it now:",
    "",
    `    ${token}`,
    "",
    `Try it:  curl -H "Authorization: Bearer ${token.slice(0, 8)}…" ${base}/v1/whoami`,
    `Lost it? Run \`palisade hub init --org ${orgName}\` (same --db) for a new one.`,
    "",
  ].join("\n");
}

/** Resolves when the process is asked to stop (SIGINT/SIGTERM), after closing the hub. */
function untilSignal(running: RunningHub): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.stderr.write("palisade hub: stopping\n");
      running.close().then(resolve, reject);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

export function registerHubCommand(program: Command): void {
  const hub = addHubDbOptions(
    program
      .command("hub")
      .description("run the fleet hub: HTTP API, enrollment, signed desired state, audit log (docs/hub.md)")
      .option("--listen <host:port>", "address to serve on", "127.0.0.1:8443")
      .option("--tls-cert <file>", "PEM certificate: serve HTTPS (with --tls-key)")
      .option("--tls-key <file>", "PEM private key for --tls-cert")
      .option("--log-level <level>", "log level on stdout (JSON lines): fatal, error, warn, info, debug (debug also logs every request), silent", "info"),
  ).action(async (opts: HubDbOptions & { listen: string; tlsCert?: string; tlsKey?: string; logLevel: string }) => {
    const dbUrl = resolveHubDbUrl(opts);
    const running = await startHub({
      listen: opts.listen,
      dbUrl,
      ...(opts.tlsCert ? { tlsCert: opts.tlsCert } : {}),
      ...(opts.tlsKey ? { tlsKey: opts.tlsKey } : {}),
      logger: { level: opts.logLevel },
      requestLogging: opts.logLevel === "debug" || opts.logLevel === "trace",
    });
    if (running.bootstrap) {
      process.stderr.write(tokenBanner(running.bootstrap.org.name, running.bootstrap.token, running.url, true) + "\n");
    }
    if (running.plainHttpExposed) {
      process.stderr.write("palisade hub: WARNING serving plain HTTP on a non-loopback address; use --tls-cert/--tls-key or a TLS proxy in front\n");
    }
    process.stderr.write(`palisade hub: listening on ${running.url} (database ${running.hub.description}); API description at ${running.url}/openapi.json\n`);
    await untilSignal(running);
  });

  addHubDbOptions(
    hub
      .command("init")
      .description("create an org (if missing) and print a new admin API token for it; works with the hub running or stopped")
      .option("--org <name>", "org name", "default")
      .option("--json", "print {org, tokenId, token} as JSON"),
  ).action(async (opts: HubDbOptions & { org: string; json?: boolean }, cmd: Command) => {
    // Options given before "init" (palisade hub --db X init) belong to the parent command.
    const parent = (cmd.parent?.opts() ?? {}) as HubDbOptions;
    const dbUrl = resolveHubDbUrl({ db: opts.db ?? parent.db, dataDir: opts.dataDir ?? parent.dataDir });
    const db = await openHubDb(dbUrl);
    try {
      const issued = await initOrg(db, opts.org);
      if (opts.json) printJson({ org: { id: issued.org.id, name: issued.org.name, created: issued.created }, tokenId: issued.tokenId, token: issued.token });
      else process.stdout.write(tokenBanner(issued.org.name, issued.token, undefined, issued.created) + "\n");
    } finally {
      await db.close();
    }
  });
}
