/**
 * When a failed delivery is tried again: the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h,
 * 5 h, then every 10 h), about 3 days in all, each delay with ±10 % jitter so that the retries of
 * many deliveries do not arrive together, and never before the receiver's `Retry-After`.
 */

/** Seconds before each retry; after the last one the delivery has failed. */
export const DEFAULT_RETRY_DELAYS_S: readonly number[] = [
  5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000,
];

/** A `Retry-After` beyond this is treated as this: a receiver cannot park a delivery for weeks. */
const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Milliseconds until the next attempt after `attempts` failed ones, or undefined when the schedule
 * is spent. `retryAfter` is the receiver's header (seconds or an HTTP date), if it sent one.
 */
export function retryDelayMs(
  attempts: number,
  delaysS: readonly number[],
  retryAfter: string | null = null,
  now = Date.now(),
  random: () => number = Math.random,
): number | undefined {
  const base = delaysS[attempts - 1];
  if (base === undefined) return undefined;
  const jittered = Math.round(base * 1000 * (0.9 + 0.2 * random()));
  return Math.max(jittered, Math.min(retryAfterMs(retryAfter, now), MAX_RETRY_AFTER_MS));
}

function retryAfterMs(header: string | null, now: number): number {
  if (header === null) return 0;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}
