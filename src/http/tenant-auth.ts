import { createMiddleware } from "hono/factory";
import type { Services } from "../core/services";
import type { Principal } from "../core/tenancy/access";
import { principalOf } from "../core/tenancy/authenticate";
import { looksLikeApiKey } from "../core/tenancy/keys";
import type { Scope } from "../core/tenancy/tokens";
import { authenticationFailed } from "./auth-failures";
import type { AppEnv } from "./context";
import { bearerToken } from "./credentials";
import { fail } from "./errors";

export type Authenticated = AppEnv & { Variables: { principal: Principal } };

/**
 * Tenant routes: `Authorization: Bearer <API key | browser token>` becomes `c.var.principal`.
 * Every refusal says as little as possible: 401 for a credential that is not good, 403 for a good
 * one that may not do this. A browser's Origin must be one its tenant lists.
 */
export function authenticate(
  services: Services,
  options: {
    scope?: Scope;
    apiKeyOnly?: boolean;
    /** Also a browser token in `?access_token=` (for EventSource, which cannot send headers). */
    tokenInQuery?: boolean;
  } = {},
) {
  return createMiddleware<Authenticated>(async (c, next) => {
    let credential = bearerToken(c.req.header("Authorization"));
    if (credential === undefined && options.tokenInQuery) {
      credential = c.req.query("access_token");
      // A URL lands in histories and logs along the way: never a long-lived key's place.
      if (credential !== undefined && looksLikeApiKey(credential)) {
        fail(400, "API keys are not accepted in URLs: send them in the Authorization header");
      }
    }
    const principal = credential
      ? await principalOf(credential, services.tenants, services.signingKeys)
      : null;
    if (!principal) return authenticationFailed(services, c);
    c.set("principal", principal);

    const origin = c.req.header("Origin");
    if (
      principal.tenant.disabled ||
      (options.apiKeyOnly && principal.credential !== "api-key") ||
      (options.scope && !principal.scopes.has(options.scope)) ||
      (origin !== undefined && !principal.tenant.allowedOrigins.includes(origin))
    ) {
      fail(403, "forbidden");
    }
    c.var.log.annotate({ tenantId: principal.tenant.id, credential: principal.credential });
    await next();
  });
}
