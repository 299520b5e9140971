/**
 * One declaration per HTTP route: method, path, who may call it, the zod
 * schemas of its inputs and output, and the handler. `registerHubRoutes`
 * turns the declarations into fastify routes (authentication runs in
 * preValidation, before the body is even looked at, so unauthenticated
 * callers learn nothing about schemas), and openApi.ts turns the same
 * declarations into the OpenAPI document, so the two cannot drift apart.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z, ZodType } from "zod/v4";
import type { ErrorCode } from "../core/errors.js";
import { authenticateToken, requireRole } from "./apiAuth.js";
import type { HubContext, NodePrincipal, TokenPrincipal } from "./hubContext.js";
import type { Role } from "./hubDatabase.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Who is calling, set by the route's authentication step. */
    caller?: TokenPrincipal | NodePrincipal;
    /** The exact body bytes (node signatures cover them). */
    rawBody?: Buffer;
  }
}

export type AuthSpec = { readonly roles: readonly Role[]; readonly operation: string } | "node" | "public";

type Out<T> = T extends ZodType ? z.output<T> : undefined;
type CallerOf<A> = A extends "node" ? NodePrincipal : A extends "public" ? undefined : TokenPrincipal;

export interface RouteArgs<B, Q, P, A> {
  readonly body: Out<B>;
  readonly query: Out<Q>;
  readonly params: Out<P>;
  readonly caller: CallerOf<A>;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  readonly ctx: HubContext;
}

interface RouteMeta {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  /** fastify syntax: /v1/nodes/:id */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  /** Success status (default 200). */
  readonly status?: number;
  readonly response?: ZodType;
  /** Media type of a success body that is not the JSON `response` schema. */
  readonly responseMediaType?: string;
  readonly otherResponses?: Readonly<Record<number, string>>;
  /** Error codes this route can answer with, for the OpenAPI document. */
  readonly errors?: readonly ErrorCode[];
}

export interface RouteSpec<B extends ZodType | undefined, Q extends ZodType | undefined, P extends ZodType | undefined, A extends AuthSpec> extends RouteMeta {
  readonly auth: A;
  readonly body?: B;
  readonly query?: Q;
  readonly params?: P;
  handler(args: RouteArgs<B, Q, P, A>): Promise<unknown>;
}

/** A declared route with its types erased, ready to register or document. */
export interface HubRoute extends RouteMeta {
  readonly auth: AuthSpec;
  readonly body?: ZodType;
  readonly query?: ZodType;
  readonly params?: ZodType;
  readonly handler: (args: ErasedArgs) => Promise<unknown>;
}

interface ErasedArgs {
  readonly body: unknown;
  readonly query: unknown;
  readonly params: unknown;
  readonly caller: TokenPrincipal | NodePrincipal | undefined;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  readonly ctx: HubContext;
}

export function defineRoute<
  B extends ZodType | undefined = undefined,
  Q extends ZodType | undefined = undefined,
  P extends ZodType | undefined = undefined,
  A extends AuthSpec = AuthSpec,
>(spec: RouteSpec<B, Q, P, A>): HubRoute {
  return spec as unknown as HubRoute;
}

export function registerHubRoutes(app: FastifyInstance, ctx: HubContext, routes: readonly HubRoute[]): void {
  for (const route of routes) {
    const auth = route.auth;
    app.route({
      method: route.method,
      url: route.url,
      schema: {
        ...(route.body ? { body: route.body } : {}),
        ...(route.query ? { querystring: route.query } : {}),
        ...(route.params ? { params: route.params } : {}),
      },
      preValidation: async (req) => {
        if (auth === "public") return;
        if (auth === "node") {
          req.caller = await ctx.nodeAuth.authenticate(req, req.rawBody ?? Buffer.alloc(0));
          return;
        }
        const caller = await authenticateToken(ctx.hub, req);
        requireRole(caller, auth.roles, auth.operation);
        req.caller = caller;
      },
      handler: async (req, reply) => {
        // Set first so a handler can still choose another status (e.g. 200 for an idempotent repeat).
        void reply.status(route.status ?? 200);
        const result = await route.handler({ body: req.body, query: req.query, params: req.params, caller: req.caller, req, reply, ctx });
        return reply.sent ? reply : result;
      },
    });
  }
}
