/**
 * The caching proxy a user would write in twenty lines: one static bearer token, terminal jobs
 * kept in KV, everything else forwarded to Waveline with the account's key. No tenants, no
 * ownership, no rate limits, no memory tier: the yardstick for the proxy's cache hits.
 */
interface Env {
  WAVELINE_API_URL: string;
  WAVELINE_API_KEY: string;
  PROXY_TOKEN: string;
  JOB_CACHE: KVNamespace;
}

const encoder = new TextEncoder();
const json = (body: string, status: number, cache: string) =>
  new Response(body, { status, headers: { "Content-Type": "application/json", "X-Cache": cache } });

/** Constant time for tokens of the right length: only the length leaks. */
function sameToken(given: string, expected: string): boolean {
  const [a, b] = [encoder.encode(given), encoder.encode(expected)];
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

export default {
  async fetch(request, env, ctx) {
    const id = /^\/jobs\/([^/]+)$/.exec(new URL(request.url).pathname)?.[1];
    if (request.method !== "GET" || !id) return json('{"error":"not found"}', 404, "NONE");
    const auth = request.headers.get("Authorization") ?? "";
    if (!sameToken(auth, `Bearer ${env.PROXY_TOKEN}`)) {
      return json('{"error":"unauthorized"}', 401, "NONE");
    }
    const cached = await env.JOB_CACHE.get(`job:${id}`);
    if (cached !== null) return json(cached, 200, "HIT");
    const upstream = await fetch(`${env.WAVELINE_API_URL}/jobs/${id}`, {
      headers: { Authorization: `Bearer ${env.WAVELINE_API_KEY}`, Accept: "application/json" },
    });
    const body = await upstream.text();
    const { status } = upstream.ok ? (JSON.parse(body) as { status?: string }) : {};
    // Finished jobs never change again: only those are kept.
    if (status === "COMPLETED" || status === "FAILED") {
      ctx.waitUntil(env.JOB_CACHE.put(`job:${id}`, body));
    }
    return json(body, upstream.status, "MISS");
  },
} satisfies ExportedHandler<Env>;
