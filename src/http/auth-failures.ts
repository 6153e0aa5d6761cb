import type { Context } from "hono";
import type { HonoEnv } from "../core/config";
import { createMemo } from "../core/memo";
import { describeError, fail } from "./errors";

/**
 * Failed authentication is limited per client address: the limit counts failed attempts, never
 * callers, so a good credential works from any address, also one over the limit (a NAT, a Worker
 * on Cloudflare's network, a tab polling with an expired token must not lock others out).
 * Guessing stays hopeless because every credential is long (keys 256 bits, ADMIN_TOKEN and
 * signing secrets 32+ characters); the limit keeps failures cheap to answer and easy to spot.
 * The binding counts per Cloudflare location; once an address is over, this isolate answers its
 * further failures 429 for a minute without asking the binding again.
 */
const BLOCK_S = 60;
const blocked = createMemo<true>({ ttlMs: BLOCK_S * 1000, maxEntries: 10_000 });

/** The address failures are counted under: IPv4 as it is, IPv6 by its /64 (one subscriber's). */
export function failureKey(address: string | undefined): string {
  if (!address) return "unknown";
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.toLowerCase().split("::");
  const groups = (part: string) =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => (group.includes(".") ? ["0", "0"] : [group]));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const full = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  const prefix = full.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, ""));
  return `${prefix.join(":")}::/64`;
}

function tooMany(): never {
  fail(429, "too many failed authentication attempts, retry later", {
    "Retry-After": String(BLOCK_S),
  });
}

/** Counts the failure, then refuses: 429 once the address is over its limit, else 401. */
export async function authenticationFailed(c: Context<HonoEnv>): Promise<never> {
  const key = failureKey(c.req.header("CF-Connecting-IP"));
  if (blocked.get(key)) tooMany();
  const { success } = await c.env.AUTH_FAILURE_LIMITER.limit({ key }).catch((err: unknown) => {
    // The credential is refused either way: a counter outage must not turn that into a 500.
    c.get("log").warn("authentication failure not counted", { error: describeError(err) });
    return { success: true };
  });
  if (!success) {
    blocked.set(key, true);
    c.get("log").warn("authentication failures over the limit", { client: key });
    tooMany();
  }
  fail(401, "missing or invalid credentials", { "WWW-Authenticate": "Bearer" });
}
