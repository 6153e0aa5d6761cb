/**
 * Bindings the Worker uses when its runtime gives them. Cloudflare gives none of these (so they are
 * not in wrangler.toml, nor in worker-configuration.d.ts); the Deno runtime does.
 */
interface OptionalBindings {
  /**
   * Sends webhooks instead of `fetch`: on Deno, only to addresses it resolved and found public
   * (src/platform/deno/webhook-egress.ts); loopback too for `localhost` and `127.0.0.1` when
   * `allowLocal` (WEBHOOKS_ALLOW_LOCAL_URLS). On Workers, `fetch` leaves from Cloudflare's network.
   */
  WEBHOOK_EGRESS?: {
    deliver(url: string, init: RequestInit, allowLocal: boolean): Promise<Response>;
  };
  /**
   * The span of the request being served, on Deno through its built-in OpenTelemetry
   * (src/platform/deno/traces.ts).
   */
  TRACES?: import("../../core/traces").RequestTraces;
}

// `wrangler types` (v4.164) has the global Env and Cloudflare.Env each extend its own base
// interface, so both are widened here.
interface Env extends OptionalBindings {}
declare namespace Cloudflare {
  interface Env extends OptionalBindings {}
}
