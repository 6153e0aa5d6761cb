/**
 * The proxy a user would write in twenty lines: GET /jobs/{id} forwarded to Waveline with the
 * account's key. No tenants, no authentication, no cache: the yardstick for the proxy's misses.
 */
interface Env {
  WAVELINE_API_URL: string;
  WAVELINE_API_KEY: string;
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const id = /^\/jobs\/([^/]+)$/.exec(pathname)?.[1];
    if (request.method !== "GET" || !id) return new Response("not found", { status: 404 });
    const upstream = await fetch(`${env.WAVELINE_API_URL}/jobs/${id}`, {
      headers: { Authorization: `Bearer ${env.WAVELINE_API_KEY}`, Accept: "application/json" },
    });
    return new Response(upstream.body, {
      status: upstream.status,
      headers: { "Content-Type": "application/json" },
    });
  },
} satisfies ExportedHandler<Env>;
