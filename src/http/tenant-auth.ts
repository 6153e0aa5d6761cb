import type { MiddlewareHandler } from "hono";
import type { Config, HonoEnv } from "../core/config";
import { ALL_SCOPES, type Principal } from "../core/tenancy/access";
import { hashApiKey, looksLikeApiKey } from "../core/tenancy/keys";
import type { TenantStore } from "../core/tenancy/store";
import { type Scope, verifyBrowserToken } from "../core/tenancy/tokens";
import { authenticationFailed } from "./auth-failures";
import { bearerToken } from "./credentials";
import { fail } from "./errors";

/**
 * Tenant routes: `Authorization: Bearer <API key | browser token>` becomes `c.get("principal")`.
 * Every refusal says as little as possible: 401 for a credential that is not good, 403 for a good
 * one that may not do this. A browser's Origin must be one its tenant lists.
 */
export function authenticate(
  options: {
    scope?: Scope;
    apiKeyOnly?: boolean;
    /** Also a browser token in `?access_token=` (for EventSource, which cannot send headers). */
    tokenInQuery?: boolean;
  } = {},
): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    let credential = bearerToken(c.req.header("Authorization"));
    if (credential === undefined && options.tokenInQuery) {
      credential = c.req.query("access_token");
      // A URL lands in histories and logs along the way: never a long-lived key's place.
      if (credential !== undefined && looksLikeApiKey(credential)) {
        fail(400, "API keys are not accepted in URLs: send them in the Authorization header");
      }
    }
    const principal = credential
      ? await resolve(c.get("tenantStore"), c.get("config"), credential)
      : null;
    if (!principal) return authenticationFailed(c);
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
    c.get("log").annotate({ tenantId: principal.tenant.id, credential: principal.credential });
    await next();
  };
}

/** `iat` has whole seconds: a token of the revocation's own second is refused too. */
function issuedTooEarly(issuedAtS: number, notBefore: string | null): boolean {
  return notBefore !== null && issuedAtS <= Math.floor(Date.parse(notBefore) / 1000);
}

async function resolve(
  tenantStore: TenantStore,
  config: Config,
  credential: string,
): Promise<Principal | null> {
  if (looksLikeApiKey(credential)) {
    const found = await tenantStore.tenantByKeyHash(await hashApiKey(credential));
    return (
      found && {
        tenant: found.tenant,
        credential: "api-key",
        keyId: found.keyId,
        scopes: ALL_SCOPES,
      }
    );
  }
  const claims = await verifyBrowserToken(config.signingKeys ?? [], credential);
  if (!claims) return null;
  const tenant = await tenantStore.getTenant(claims.tenantId);
  if (!tenant || issuedTooEarly(claims.issuedAt, tenant.tokensNotBefore)) return null;
  // Both lookups are memoised for 10 s: a revoked key's tokens stop within that everywhere.
  if (!(await tenantStore.keyIsLive(tenant.id, claims.keyId))) return null;
  return {
    tenant,
    credential: "browser-token",
    keyId: claims.keyId,
    scopes: new Set(claims.scopes),
    subject: claims.subject,
    jobIds: claims.jobIds ? new Set(claims.jobIds) : undefined,
    pagesPerMonth: claims.pagesPerMonth,
  };
}
