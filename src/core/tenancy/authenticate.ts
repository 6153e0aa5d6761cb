import type { RequestScope } from "../log";
import type { Principal } from "./access";
import type { Directory, LookupOptions } from "./directory";
import { looksLikeApiKey } from "./keys";
import { type SigningKey, verifyBrowserToken } from "./tokens";

/** `iat` has whole seconds: a token of the revocation's own second is refused too. */
function issuedTooEarly(issuedAtS: number, notBefore: string | null): boolean {
  return notBefore !== null && issuedAtS <= Math.floor(Date.parse(notBefore) / 1000);
}

/**
 * Who an API key or browser token belongs to; null for anything that is not a good credential.
 * A made-up credential costs no I/O (key tags, token signatures); a good one costs at most one
 * round trip to storage, together with the owner of `options.jobId`.
 */
export async function principalOf(
  credential: string,
  directory: Directory,
  signingKeys: Promise<readonly SigningKey[]> | undefined,
  scope: RequestScope,
  options: LookupOptions = {},
): Promise<Principal | null> {
  if (looksLikeApiKey(credential)) {
    const { value: found, stale } = await directory.apiKey(credential, scope, options);
    return (
      found && {
        tenant: found.tenant,
        credential: "api-key",
        keyId: found.keyId,
        scopes: new Set(found.scopes),
        ...(stale ? { stale } : {}),
      }
    );
  }
  if (!signingKeys) return null;
  const claims = await verifyBrowserToken(await signingKeys, credential);
  if (!claims) return null;
  const { value, stale } = await directory.token(claims.tenantId, claims.keyId, scope, options);
  const { tenant, keyLive } = value;
  // A revoked key's tokens stop with it: within MEMO_TTL_MS everywhere, like the key.
  if (!tenant || !keyLive || issuedTooEarly(claims.issuedAt, tenant.tokensNotBefore)) return null;
  return {
    tenant,
    credential: "browser-token",
    keyId: claims.keyId,
    scopes: new Set(claims.scopes),
    subject: claims.subject,
    jobIds: claims.jobIds ? new Set(claims.jobIds) : undefined,
    pagesPerMonth: claims.pagesPerMonth,
    ...(stale ? { stale } : {}),
  };
}
