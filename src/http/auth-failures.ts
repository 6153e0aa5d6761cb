import type { Context } from "hono";
import { describeError } from "../core/errors";
import { createMemo } from "../core/memo";
import type { Services } from "../core/services";
import type { AppEnv } from "./context";
import { fail } from "./errors";

/**
 * Failed authentication is limited per client address: the limit counts failed attempts, never
 * callers, so a good credential works from any address, also one over the limit (a NAT, a Worker
 * on Cloudflare's network, a tab polling with an expired token must not lock others out).
 * Guessing stays hopeless because every credential is long (keys 256 bits, ADMIN_TOKEN and
 * signing secrets 32+ characters); the limit keeps failures cheap to answer and easy to spot.
 * The counter is the runtime's (on Workers, the rate-limiting binding, per location); once an
 * address is over, this isolate answers its further failures 429 for a minute without asking.
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
  fail("too_many_auth_failures", "too many failed authentication attempts, retry later", {
    "Retry-After": String(BLOCK_S),
  });
}

/** Counts the failure, then refuses: 429 once the address is over its limit, else 401. */
export async function authenticationFailed<E extends AppEnv>(
  services: Services,
  c: Context<E>,
): Promise<never> {
  const key = failureKey(c.env.clientAddress());
  if (blocked.get(key)) tooMany();
  const allowed = await services.countAuthFailure(key).catch((err: unknown) => {
    // The credential is refused either way: a counter outage must not turn that into a 500.
    c.var.log.warn("authentication failure not counted", { error: describeError(err) });
    return true;
  });
  if (!allowed) {
    blocked.set(key, true);
    c.var.log.warn("authentication failures over the limit", { client: key });
    tooMany();
  }
  fail("authentication_failed", "missing or invalid credentials", { "WWW-Authenticate": "Bearer" });
}
