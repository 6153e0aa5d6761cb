import type { Logger, RequestScope } from "../core/log";

/** What a runtime's entry hands the app with each request, besides the request itself. */
export interface RequestPlatform {
  /** Keeps work going after the answer (Workers' `ctx.waitUntil`). */
  waitUntil(promise: Promise<unknown>): void;
  /** The client's address as the platform saw it (never a header the client chose); asked only
   * when a credential fails, so a cache hit never reads it. */
  clientAddress(): string | undefined;
}

/**
 * What every request has. Middleware that adds more declares it in its own type
 * (`authenticate` adds `principal`), so a route that forgets the middleware does not compile.
 */
export type AppEnv = {
  Bindings: RequestPlatform;
  Variables: {
    requestId: string;
    log: Logger;
    scope: RequestScope;
    /** The caller's tenant does not list the request's Origin: no CORS headers on the answer. */
    originRefused?: true;
    /** Who the admin routes' changes are by in the audit log (`requireAdmin` sets it). */
    adminActor?: string;
  };
};
