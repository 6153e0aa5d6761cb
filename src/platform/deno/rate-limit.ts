/** The rate-limiting binding's API: `limit({ key })` answers whether this call is within it. */
export interface RateLimit {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/**
 * A `[[ratelimits]]` binding with a `simple = { limit, period }`, in this process: a fixed
 * window per key, as the binding counts per Cloudflare location (approximate is what it promises).
 */
export function fixedWindowLimiter(
  simple: { limit: number; period: number },
  now: () => number = Date.now,
): RateLimit {
  const periodMs = simple.period * 1000;
  const windows = new Map<string, { start: number; count: number }>();
  let lastSweep = now();
  return {
    async limit({ key }) {
      const at = now();
      if (at - lastSweep > periodMs) {
        for (const [k, window] of windows) if (at - window.start >= periodMs) windows.delete(k);
        lastSweep = at;
      }
      let window = windows.get(key);
      if (!window || at - window.start >= periodMs) {
        window = { start: at - (at % periodMs), count: 0 };
        windows.set(key, window);
      }
      window.count++;
      return { success: window.count <= simple.limit };
    },
  };
}
