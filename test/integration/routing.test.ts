import { env } from "cloudflare:workers";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { expect, it } from "vitest";
import { appFor } from "../../src/platform/cloudflare/worker";

// Hono's SmartRouter uses its RegExpRouter (one regular expression per method) unless a route
// cannot be compiled into it, and then falls back to the TrieRouter for every request: routing
// then costs about a sixth of a cache hit's CPU. One ambiguous pattern (`/jobs/:id{.+}` beside
// `/jobs/:id/events`) did that once.
it("compiles every route into Hono's RegExpRouter", () => {
  const router = new RegExpRouter<string>();
  for (const route of appFor(env).routes) router.add(route.method, route.path, route.path);
  expect(() => router.match("GET", "/jobs/abc")).not.toThrow();
});
