import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { PROXY_ORIGIN, proxyFetch } from "./helpers";

/** The app with DEMO_ENABLED set as given (wrangler.toml leaves it "false"). */
function withDemo(value: string, path = "/demo", init?: RequestInit): Promise<Response> {
  const demoEnv = { ...env, DEMO_ENABLED: value };
  return Promise.resolve(
    app.request(`${PROXY_ORIGIN}${path}`, init, demoEnv, createExecutionContext()),
  );
}

describe("GET /demo", () => {
  it("is off by default: a 404 byte for byte like a path that does not exist, for every method", async () => {
    const unknown = await proxyFetch("/no-such-page");
    const expected = await unknown.text();

    for (const method of ["GET", "POST", "DELETE"]) {
      const response = await proxyFetch("/demo", { method });
      expect(response.status).toBe(404);
      expect(await response.text()).toBe(expected);
    }
  });

  it("serves one self-contained page when enabled, its inline code allowed by a fresh nonce", async () => {
    const first = await withDemo("true");
    const second = await withDemo("true");

    expect(first.status).toBe(200);
    expect(first.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(first.headers.get("Cache-Control")).toBe("no-store");
    const csp = first.headers.get("Content-Security-Policy") ?? "";
    const nonce = csp.match(/script-src 'nonce-([^']+)'/)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src *");
    expect(second.headers.get("Content-Security-Policy")).not.toBe(csp);

    const html = await first.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain(`<style nonce="${nonce}">`);
    // Nothing from elsewhere, and no credential of any kind in the page.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
    expect(html).not.toMatch(/wlp_[A-Za-z0-9_]{8,}|eyJ[A-Za-z0-9_-]{10,}/);
  });

  it("answers only GET and HEAD when enabled", async () => {
    const response = await withDemo("true", "/demo", { method: "POST" });

    expect(response.status).toBe(405);
    expect(response.headers.get("Allow")).toBe("GET, HEAD");
    expect(await response.json()).toEqual({ error: "method not allowed" });
  });

  it("is not served under /api/v1", async () => {
    expect((await withDemo("true", "/api/v1/demo")).status).toBe(404);
  });

  it("refuses a DEMO_ENABLED that is neither true nor false, like any invalid setting", async () => {
    const response = await withDemo("perhaps");

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: "proxy is not configured: DEMO_ENABLED must be true or false",
    });
  });
});
