/**
 * Bindings the Worker uses when its runtime gives them. Cloudflare gives none of these (so they are
 * not in wrangler.toml, nor in worker-configuration.d.ts); the Deno runtime does.
 */
declare namespace Cloudflare {
  interface Env {
    /**
     * Sends webhooks instead of `fetch`: on Deno, only to addresses it resolved and found public
     * (src/platform/deno/webhook-egress.ts); loopback too for `localhost` and `127.0.0.1` when
     * `allowLocal` (WEBHOOKS_ALLOW_LOCAL_URLS). On Workers, `fetch` leaves from Cloudflare's network.
     */
    WEBHOOK_EGRESS?: {
      deliver(url: string, init: RequestInit, allowLocal: boolean): Promise<Response>;
    };
  }
}
