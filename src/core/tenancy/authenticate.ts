import type { Principal } from "./access";
import { ALL_SCOPES } from "./access";
import { hashApiKey, looksLikeApiKey } from "./keys";
import type { TenantStore } from "./store";
import { type SigningKey, verifyBrowserToken } from "./tokens";

/** `iat` has whole seconds: a token of the revocation's own second is refused too. */
function issuedTooEarly(issuedAtS: number, notBefore: string | null): boolean {
  return notBefore !== null && issuedAtS <= Math.floor(Date.parse(notBefore) / 1000);
}

/** Who an API key or browser token belongs to; null for anything that is not a good credential. */
export async function principalOf(
  credential: string,
  tenants: TenantStore,
  signingKeys: Promise<readonly SigningKey[]> | undefined,
): Promise<Principal | null> {
  if (looksLikeApiKey(credential)) {
    const found = await tenants.tenantByKeyHash(await hashApiKey(credential));
    return (
      found && {
        tenant: found.tenant,
        credential: "api-key",
        keyId: found.keyId,
        scopes: ALL_SCOPES,
      }
    );
  }
  if (!signingKeys) return null;
  const claims = await verifyBrowserToken(await signingKeys, credential);
  if (!claims) return null;
  const tenant = await tenants.getTenant(claims.tenantId);
  if (!tenant || issuedTooEarly(claims.issuedAt, tenant.tokensNotBefore)) return null;
  // Both lookups are memoised for 10 s: a revoked key's tokens stop within that everywhere.
  if (!(await tenants.keyIsLive(tenant.id, claims.keyId))) return null;
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
