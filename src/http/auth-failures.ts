import type { Context } from "hono";
import type { HonoEnv } from "../env";
import { createMemo } from "../tenancy/memo";
import { describeError, fail } from "./errors";

/**
 * Failed authentication is limited per client address, so guessing keys or the admin token is
 * slow. The rate-limiting binding counts failures per Cloudflare location; once an address is
 * over, this isolate refuses it outright, even with a good credential, for a minute: otherwise
 * a blocked guesser would still learn which guess was right.
 */
const BLOCK_S = 60;
const blocked = createMemo<true>({ ttlMs: BLOCK_S * 1000, maxEntries: 10_000 });

function clientAddress(c: Context<HonoEnv>): string {
  return c.req.header("CF-Connecting-IP") ?? "unknown";
}

function tooMany(): never {
  fail(429, "too many failed authentication attempts, retry later", {
    "Retry-After": String(BLOCK_S),
  });
}

export function refuseBlockedClient(c: Context<HonoEnv>): void {
  if (blocked.get(clientAddress(c))) tooMany();
}

/** Counts the failure, then refuses: 429 once the address is over its limit, else 401. */
export async function authenticationFailed(c: Context<HonoEnv>): Promise<never> {
  const address = clientAddress(c);
  const { success } = await c.env.AUTH_FAILURE_LIMITER.limit({ key: address }).catch(
    (err: unknown) => {
      // The credential is refused either way: a counter outage must not turn that into a 500.
      c.get("log").warn("authentication failure not counted", { error: describeError(err) });
      return { success: true };
    },
  );
  if (!success) {
    blocked.set(address, true);
    c.get("log").warn("authentication failures over the limit", { client: address });
    tooMany();
  }
  fail(401, "missing or invalid credentials", { "WWW-Authenticate": "Bearer" });
}
