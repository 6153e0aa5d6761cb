import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { worker as app } from "../../src/platform/cloudflare/worker";
import { PROXY_ORIGIN, proxyFetch } from "./helpers";

/** The app with CONSOLE_ENABLED set as given (wrangler.toml leaves it "false"). */
function withConsole(value: string, path = "/console", init?: RequestInit): Promise<Response> {
  return Promise.resolve(
    app.request(
      `${PROXY_ORIGIN}${path}`,
      init,
      { ...env, CONSOLE_ENABLED: value },
      createExecutionContext(),
    ),
  );
}

describe("GET /console", () => {
  it("is off by default: a 404 byte for byte like a path that does not exist, for every method", async () => {
    const expected = await (await proxyFetch("/no-such-page")).text();
    for (const path of ["/console", "/console/console.js"]) {
      for (const method of ["GET", "POST"]) {
        const response = await proxyFetch(path, { method });
        expect(response.status).toBe(404);
        expect(await response.text()).toBe(expected);
      }
    }
  });

  it("serves the page, its script and style when enabled, talking to this proxy alone", async () => {
    const page = await withConsole("true");
    const script = await withConsole("true", "/console/console.js");
    const style = await withConsole("true", "/console/console.css");
    expect([page.status, script.status, style.status]).toEqual([200, 200, 200]);
    const csp = page.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get("Cache-Control")).toBe("no-store");
    expect(page.headers.get("Referrer-Policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).toContain('<script src="/console/console.js"></script>');
    expect(html).toContain('type="password"');
    expect(script.headers.get("Content-Type")).toMatch(/javascript/);
    expect(await style.text()).toContain(".uplot");
  });

  it("answers other methods with a 405 and other files with a 404", async () => {
    expect((await withConsole("true", "/console", { method: "POST" })).status).toBe(405);
    expect((await withConsole("true", "/console/other.js")).status).toBe(404);
  });
});
