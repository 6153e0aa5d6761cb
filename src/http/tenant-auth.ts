import { createMiddleware } from "hono/factory";
import type { ErrorCode } from "../core/errors";
import type { RequestScope } from "../core/log";
import type { Services } from "../core/services";
import type { Principal } from "../core/tenancy/access";
import { principalOf } from "../core/tenancy/authenticate";
import type { KeyScope } from "../core/tenancy/keys";
import { looksLikeApiKey } from "../core/tenancy/keys";
import type { Lapse } from "../core/watching/while-credential-holds";
import { authenticationFailed } from "./auth-failures";
import type { AppEnv } from "./context";
import { bearerToken } from "./credentials";
import { fail } from "./errors";

export type Authenticated = AppEnv & {
  Variables: {
    principal: Principal;
    /** Why the credential would no longer be let in, or null while it would: for open streams. */
    credentialLapse: () => Promise<Lapse | null>;
  };
};

interface AuthOptions {
  /** What the credential must be allowed (a key's scopes; a browser token's, for job scopes). */
  scope?: KeyScope;
  apiKeyOnly?: boolean;
  /** Also a browser token in `?access_token=` (for EventSource, which cannot send headers). */
  tokenInQuery?: boolean;
  /** The route's job id parameter: its owner is looked up with the caller, in one round trip. */
  jobParam?: string;
  /** While storage is down, a caller known here recently may go on (cached finished jobs). */
  allowStale?: boolean;
}

/**
 * Tenant routes: `Authorization: Bearer <API key | browser token>` becomes `c.var.principal`.
 * Every refusal says as little as possible: 401 for a credential that is not good, 403 for a good
 * one that may not do this. A browser's Origin must be one its tenant lists.
 */
export function authenticate(services: Services, options: AuthOptions = {}) {
  return createMiddleware<Authenticated>(async (c, next) => {
    let credential = bearerToken(c.req.header("Authorization"));
    if (credential === undefined && options.tokenInQuery) {
      credential = c.req.query("access_token");
      // A URL lands in histories and logs along the way: never a long-lived key's place.
      if (credential !== undefined && looksLikeApiKey(credential)) {
        fail(
          "api_key_in_url",
          "API keys are not accepted in URLs: send them in the Authorization header",
        );
      }
    }
    const jobId = options.jobParam === undefined ? undefined : c.req.param(options.jobParam);
    const principal = credential
      ? await principalOf(credential, services.directory, services.signingKeys, c.var.scope, {
          jobId,
          allowStale: options.allowStale,
        })
      : null;
    if (!principal || credential === undefined) return authenticationFailed(services, c);
    c.set("principal", principal);
    c.set("credentialLapse", () => credentialLapse(services, credential, options, c.var.scope));

    const origin = c.req.header("Origin");
    if (origin !== undefined && !principal.tenant.allowedOrigins.includes(origin)) {
      // Not one of this tenant's origins: the page may not even read the refusal.
      c.set("originRefused", true);
      fail("origin_not_allowed", "this Origin is not one of the tenant's allowed origins");
    }
    const refusal = refusalOf(principal, options);
    if (refusal) fail(refusal.code, refusal.message);
    c.var.log.annotate({ tenantId: principal.tenant.id, credential: principal.credential });
    await next();
  });
}

/**
 * The 403 a good credential meets whatever its request (the Origin aside), naming the rule it
 * breaks: each is about the caller's own tenant and credential, nothing about anyone else's.
 */
function refusalOf(
  principal: Principal,
  options: AuthOptions,
): { code: ErrorCode; message: string } | undefined {
  if (principal.tenant.disabled)
    return { code: "tenant_disabled", message: "the tenant is disabled" };
  if (options.apiKeyOnly === true && principal.credential !== "api-key") {
    return {
      code: "api_key_required",
      message: "this route takes API keys only, not browser tokens",
    };
  }
  if (options.scope !== undefined && !principal.scopes.has(options.scope)) {
    const holder = principal.credential === "api-key" ? "API key" : "token";
    return { code: "scope_missing", message: `the ${holder} lacks the ${options.scope} scope` };
  }
  return undefined;
}

/**
 * Asks again, as `authenticate` does, whether `credential` is let in: an expired token, a revoked
 * key or token, a disabled tenant no longer are, within the same bound as every request.
 */
async function credentialLapse(
  services: Services,
  credential: string,
  options: AuthOptions,
  scope: RequestScope,
): Promise<Lapse | null> {
  const principal = await principalOf(credential, services.directory, services.signingKeys, scope);
  if (!principal) {
    return { code: "authentication_failed", error: "the credential has expired or was revoked" };
  }
  const refusal = refusalOf(principal, options);
  return refusal ? { code: refusal.code, error: "the credential is no longer allowed this" } : null;
}
