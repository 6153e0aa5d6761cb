import type { Principal } from "../tenancy/access";

/**
 * An end user's part of one of the tenant's limits: what one browser user may spend of it alone,
 * so that a noisy one is refused while the quiet ones go on. `user` names their bucket.
 */
export interface EndUserShare {
  user: string;
  limit: number;
}

/** Without a setting, one end user may use this part of the tenant's limit. */
export const DEFAULT_END_USER_FRACTION = 1 / 4;

/**
 * The share of a browser token's end user; none for an API key (the tenant's backend spends the
 * tenant's limit) or a share as large as the tenant's. Tokens without `sub` share one bucket.
 */
export function endUserShare(
  principal: Principal,
  tenantLimit: number,
  configured: number | null,
): EndUserShare | undefined {
  if (principal.credential === "api-key") return undefined;
  const limit = configured ?? Math.max(1, Math.ceil(tenantLimit * DEFAULT_END_USER_FRACTION));
  if (limit === 0 || limit >= tenantLimit) return undefined;
  return { user: principal.subject === undefined ? "no-sub" : `sub:${principal.subject}`, limit };
}
