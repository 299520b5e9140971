/**
 * Starts a hub: open and migrate the database, bootstrap the first org if
 * the database is empty, build the server, listen. The CLI (`palisade hub`)
 * is a thin wrapper that prints what this returns.
 */
import { readFileSync } from "node:fs";
import type { FastifyServerOptions } from "fastify";
import { PalisadeError } from "../core/errors.js";
import { bootstrapIfEmpty, type IssuedAdmin } from "./bootstrap.js";
import { createHubServer, type HubServer } from "./createHubServer.js";
import type { HubDb } from "./hubDatabase.js";
import { openHubDb } from "./openHubDb.js";

export interface StartHubOptions {
  /** HOST:PORT, [IPv6]:PORT or PORT. */
  readonly listen: string;
  readonly dbUrl: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly logger?: FastifyServerOptions["logger"];
  readonly requestLogging?: boolean;
}

export interface RunningHub {
  readonly url: string;
  readonly hub: HubDb;
  readonly server: HubServer;
  /** Set on the first start of an empty database: the only time the token is shown. */
  readonly bootstrap: IssuedAdmin | undefined;
  /** True when serving plain HTTP on an address other hosts can reach. */
  readonly plainHttpExposed: boolean;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new PalisadeError("USAGE", `cannot parse --listen "${listen}"`, { hint: "use HOST:PORT, e.g. 127.0.0.1:8443, 0.0.0.0:8443 or [::]:8443" });
  }
  // A bare port (or ":PORT") means loopback: exposing the hub must be a deliberate choice.
  const host = m[1] || m[2] || "127.0.0.1";
  return { host, port };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export async function startHub(options: StartHubOptions): Promise<RunningHub> {
  const { host, port } = parseListen(options.listen);
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new PalisadeError("USAGE", "--tls-cert and --tls-key go together", { hint: "pass both (PEM files), or neither for plain HTTP behind a TLS proxy" });
  }
  const https = options.tlsCert && options.tlsKey ? { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) } : undefined;
  const hub = await openHubDb(options.dbUrl);
  try {
    const bootstrap = await bootstrapIfEmpty(hub);
    const server = await createHubServer({ hub, logger: options.logger ?? false, requestLogging: options.requestLogging === true, ...(https ? { https } : {}) });
    try {
      await server.app.listen({ host, port });
    } catch (err) {
      await server.app.close();
      const e = err as NodeJS.ErrnoException;
      throw new PalisadeError("IO", `cannot listen on ${options.listen}: ${e.code ?? e.message}`, {
        hint: e.code === "EADDRINUSE" ? "another process uses that port; pick another with --listen" : "check the address belongs to this host",
        cause: err,
      });
    }
    const address = server.app.server.address();
    const actualPort = typeof address === "object" && address ? address.port : port;
    const shownHost = host.includes(":") ? `[${host}]` : host;
    return {
      url: `${https ? "https" : "http"}://${shownHost}:${actualPort}`,
      hub,
      server,
      bootstrap,
      plainHttpExposed: https === undefined && !LOOPBACK.test(host),
      async close() {
        await server.app.close();
        await hub.close();
      },
    };
  } catch (err) {
    await hub.close();
    throw err;
  }
}
