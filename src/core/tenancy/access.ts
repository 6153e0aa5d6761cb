import { KEY_SCOPES, type KeyScope } from "./keys";
import type { Tenant } from "./store";

/**
 * Who is calling, once authenticated. An API key is a tenant's backend: its scopes, every job of
 * the tenant. A browser token narrows that to its scopes, its subject and its job list.
 */
export interface Principal {
  tenant: Tenant;
  credential: "api-key" | "browser-token";
  /** The API key used, or the one that minted the browser token. */
  keyId: string;
  scopes: ReadonlySet<KeyScope>;
  /** Only this end user's jobs (browser tokens with a `sub`). */
  subject?: string;
  /** Only these jobs (browser tokens with a job list). */
  jobIds?: ReadonlySet<string>;
  /** The end user's own monthly page budget, set by the backend that minted the token. */
  pagesPerMonth?: number;
  /**
   * Known only from an answer older than the revocation bound, because storage is down: such a
   * caller may read its cached finished jobs, nothing else (`allowStale` routes).
   */
  stale?: true;
}

export const ALL_SCOPES: ReadonlySet<KeyScope> = new Set(KEY_SCOPES);

/** Whether a key's expiry has come (an expired key is refused at once, wherever it is known). */
export function hasExpired(expiresAt: string | null, now: number): boolean {
  return expiresAt !== null && Date.parse(expiresAt) <= now;
}

export function mayReadJob(
  principal: Principal,
  jobId: string,
  owner: { tenantId: string; subject: string | null } | null,
): boolean {
  return (
    owner !== null &&
    owner.tenantId === principal.tenant.id &&
    (principal.subject === undefined || owner.subject === principal.subject) &&
    (principal.jobIds === undefined || principal.jobIds.has(jobId))
  );
}
