/**
 * Builds the hub's HTTP server (fastify) over an open database. Starting,
 * listening and bootstrap are the caller's (src/cli/hubCommand.ts, tests).
 */
import fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { ZodType } from "zod/v4";
import { PALISADE_VERSION } from "../core/version.js";
import { DesiredStateCache } from "./desiredState.js";
import type { HubContext } from "./hubContext.js";
import type { HubDb } from "./hubDatabase.js";
import { defineRoute, registerHubRoutes, type HubRoute } from "./hubRoute.js";
import { installErrorHandlers, validationError } from "./httpErrors.js";
import { NodeActivity } from "./nodeActivity.js";
import { nodeAdmissionFor } from "./nodeAdmission.js";
import { CLOCK_WINDOW_MS, NodeAuthenticator } from "./nodeAuth.js";
import { buildOpenApi } from "./openApi.js";
import { bundleRoutes } from "./routes/bundleRoutes.js";
import { deploymentRoutes } from "./routes/deploymentRoutes.js";
import { enrollmentRoutes } from "./routes/enrollmentRoutes.js";
import { nodeApiRoutes } from "./routes/nodeApiRoutes.js";
import { nodeRoutes } from "./routes/nodeRoutes.js";
import { orgRoutes } from "./routes/orgRoutes.js";
import { publisherRoutes } from "./routes/publisherRoutes.js";

export interface HubServerOptions {
  readonly hub: HubDb;
  /** fastify/pino logger settings; false (the default) logs nothing. */
  readonly logger?: FastifyServerOptions["logger"];
  readonly https?: { readonly key: Buffer; readonly cert: Buffer };
  readonly offlineAfterSeconds?: number;
  readonly clockWindowMs?: number;
  /** How often buffered last-seen times are written. */
  readonly activityFlushMs?: number;
  /** Log every request (two lines each); off by default, as 10,000 polling nodes make that noise. */
  readonly requestLogging?: boolean;
  /**
   * Status reports older than this are deleted (the newest one per node lives on
   * in nodes.workloads). A report redelivered after that is stored again,
   * harmlessly: it can never overwrite a newer status.
   */
  readonly statusRetentionDays?: number;
}

export interface HubServer {
  readonly app: FastifyInstance;
  readonly ctx: HubContext;
  readonly routes: readonly HubRoute[];
}

export const BODY_LIMIT = 4 * 1024 * 1024;

export async function createHubServer(options: HubServerOptions): Promise<HubServer> {
  const { hub } = options;
  const activity = new NodeActivity(hub);
  const admission = nodeAdmissionFor(hub);
  const ctx: HubContext = {
    hub,
    activity,
    nodeAuth: new NodeAuthenticator(hub, admission, activity, options.clockWindowMs ?? CLOCK_WINDOW_MS),
    desired: new DesiredStateCache(hub),
    offlineAfterSeconds: options.offlineAfterSeconds ?? 90,
  };

  const app = fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    logController: new LogController({ disableRequestLogging: options.requestLogging !== true }),
    ...(options.https ? { https: { key: options.https.key, cert: options.https.cert } } : {}),
  }) as unknown as FastifyInstance;

  // Keep the exact body bytes: node request signatures cover them. Parse with
  // fastify's own JSON parser, which refuses __proto__/constructor poisoning.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    const raw = body as Buffer;
    req.rawBody = raw;
    if (raw.length === 0) return done(null, undefined);
    parseJson(req, raw as unknown as string, done);
  });

  // Requests are validated by the same zod schemas the OpenAPI document is made from.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const zod = schema as ZodType;
    const part = httpPart === "querystring" ? "query" : (httpPart ?? "body");
    return (data: unknown) => {
      // A POST without a body is an empty object (e.g. revoke without a reason).
      const input = part === "body" && (data === null || data === undefined) ? {} : data;
      const r = zod.safeParse(input);
      return r.success ? { value: r.data } : { error: validationError(part, zod, r.error) };
    };
  });
  installErrorHandlers(app);

  const routes: HubRoute[] = [...orgRoutes, ...enrollmentRoutes, ...nodeRoutes, ...publisherRoutes, ...bundleRoutes, ...deploymentRoutes, ...nodeApiRoutes];
  let openApi: unknown;
  const meta: HubRoute[] = [
    defineRoute({
      method: "GET",
      url: "/openapi.json",
      operationId: "openApi",
      tag: "meta",
      summary: "This OpenAPI 3.1 document",
      auth: "public",
      async handler() {
        openApi ??= buildOpenApi([...meta, ...routes]);
        return openApi;
      },
    }),
    defineRoute({
      method: "GET",
      url: "/healthz",
      operationId: "health",
      tag: "meta",
      summary: "Liveness and database reachability",
      auth: "public",
      errors: ["HUB_STORE"],
      async handler() {
        await hub.db.selectFrom("audit_head").select("seq").executeTakeFirst();
        return { ok: true, version: PALISADE_VERSION, database: hub.dialect };
      },
    }),
  ];
  registerHubRoutes(app, ctx, [...meta, ...routes]);

  const flush = setInterval(() => void activity.flush().catch((err: Error) => app.log.warn(`last-seen flush failed: ${err.message}`)), options.activityFlushMs ?? 5000);
  // Often, so that each sweep is small (a large DELETE a minute was a burst the polls queued behind).
  const sweep = setInterval(() => void admission.sweep(Date.now()).catch((err: Error) => app.log.warn(`nonce sweep failed: ${err.message}`)), 10_000);
  const retentionMs = (options.statusRetentionDays ?? 7) * 86_400_000;
  const retention = setInterval(
    () =>
      void hub.db
        .deleteFrom("status_reports")
        .where("received_at", "<", new Date(Date.now() - retentionMs).toISOString())
        .execute()
        .catch((err: Error) => app.log.warn(`status retention failed: ${err.message}`)),
    3_600_000,
  );
  for (const timer of [flush, sweep, retention]) timer.unref();
  app.addHook("onClose", async () => {
    for (const timer of [flush, sweep, retention]) clearInterval(timer);
    await activity.flush().catch(() => {});
  });

  await app.ready();
  return { app, ctx, routes: [...meta, ...routes] };
}
