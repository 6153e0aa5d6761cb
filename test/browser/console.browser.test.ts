import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../e2e/test-stack";

/**
 * The console (/console) in real headless Chromium against `wrangler dev`: the operator signs in
 * with the admin token, sees every tenant and a chart, creates and revokes a key and reads the
 * audit log; a tenant signs in with its API key and sees itself alone. The credential never
 * reaches the address bar or the browser's storage.
 */
const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const skip = !hasChromium && !process.env.CI;
if (skip) {
  process.stderr.write(
    `Skipping the console browser test: ${CHROMIUM} is missing (apt-get install chromium)\n`,
  );
}
// README's picture is refreshed on demand (`CONSOLE_SCREENSHOT=1`); otherwise a test artifact.
const SCREENSHOT = fileURLToPath(
  new URL(
    process.env.CONSOLE_SCREENSHOT ? "../../docs/console.png" : "../../test-results/console.png",
    import.meta.url,
  ),
);

describe.skipIf(skip)("the console in headless Chromium", () => {
  let stack: TestStack;
  let browser: BrowserContext;
  let userDataDir: string;
  const tenants: Record<"a" | "b", { id: string; name: string; key: string }> = {
    a: { id: "", name: "acme-alpha", key: "" },
    b: { id: "", name: "bolt-bravo", key: "" },
  };

  const admin = async (path: string, body?: unknown, method = body ? "POST" : "GET") =>
    fetch(`${stack.proxyUrl}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`,
        "Content-Type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** A fresh page of the console, with every request it makes and every answer it gets. */
  async function openConsole(): Promise<{ page: Page; urls: string[]; bodies: string[] }> {
    const page = await browser.newPage();
    const urls: string[] = [];
    const bodies: string[] = [];
    page.on("request", (request) => urls.push(request.url()));
    page.on("response", (response) => {
      if (response.url().includes("/console")) return;
      void response
        .text()
        .then((text) => bodies.push(`${response.status()} ${response.url()} ${text}`))
        .catch(() => {});
    });
    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(`${stack.proxyUrl}/console`);
    return { page, urls, bodies };
  }

  /** Everything the browser could have kept: its storage and cookies, and the address bar. */
  async function kept(page: Page): Promise<string> {
    // A string: this file is type-checked without the DOM's types.
    const storage = await page.evaluate(
      "JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie])",
    );
    const cookies = JSON.stringify(await browser.cookies());
    return `${page.url()} ${storage} ${cookies}`;
  }

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`${CHROMIUM} is missing: .ci/run installs it in CI`);
    stack = await startTestStack({ CONSOLE_ENABLED: "true" });
    for (const tenant of Object.values(tenants)) {
      const created = (await (
        await admin("/admin/tenants", { name: tenant.name, budget: { pagesPerMonth: 500 } })
      ).json()) as { id: string };
      tenant.id = created.id;
      const key = (await (
        await admin(`/admin/tenants/${tenant.id}/keys`, { name: "backend" })
      ).json()) as { key: string };
      tenant.key = key.key;
    }
    userDataDir = mkdtempSync(join(tmpdir(), "waveline-chromium-"));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1100, height: 900 },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it("signs the operator in: every tenant, a chart, a key created and revoked, the audit log", async () => {
    const { page, urls } = await openConsole();
    await page.fill("#credential", stack.vars.ADMIN_TOKEN ?? "");
    await page.press("#credential", "Enter");

    // Both tenants of this test, beside the one `npm run dev`'s seed adds.
    await expect.poll(() => page.locator("#tenants tbody tr").count()).toBe(3);
    const table = await page.locator("#tenants").textContent();
    expect(table).toContain(tenants.a.name);
    expect(table).toContain(tenants.b.name);
    expect(await page.locator("#overview-chart canvas").count()).toBe(1);
    expect(await page.inputValue("#credential")).toBe("");

    await page.click(`button[aria-label="Open ${tenants.a.name}"]`);
    await expect.poll(() => page.locator("#keys tbody tr").count()).toBe(1);

    await page.fill("#new-key-name", "made-in-console");
    await page.click("#new-key-form button[type=submit]");
    await expect.poll(() => page.locator("#new-key-value").textContent()).toMatch(/^wlp_/);
    const shown = await page.locator("#new-key-value").textContent();
    const listed = (await (await admin(`/admin/tenants/${tenants.a.id}/keys`)).json()) as {
      items: { id: string; name: string; revokedAt: string | null }[];
    };
    const made = listed.items.find((key) => key.name === "made-in-console");
    expect(made?.revokedAt).toBeNull();
    // The key shown works: it reads the tenant's own usage.
    const withShown = await fetch(`${stack.proxyUrl}/usage`, {
      headers: { Authorization: `Bearer ${shown}` },
    });
    expect(withShown.status).toBe(200);
    await page.click("#new-key-done");
    expect(await page.locator("#new-key-value").textContent()).toBe("");

    await page.click('button[aria-label="Revoke key made-in-console"]');
    await expect
      .poll(() => page.locator(`#keys tbody tr[data-key="${made?.id}"]`).textContent())
      .toContain("revoked");
    const afterRevoke = (await (await admin(`/admin/tenants/${tenants.a.id}/keys`)).json()) as {
      items: { id: string; revokedAt: string | null }[];
    };
    expect(afterRevoke.items.find((key) => key.id === made?.id)?.revokedAt).toBeTruthy();

    // Panels whose API is not on this proxy say so; where it is, they show it.
    const auditApi = await admin(`/admin/audit?tenantId=${tenants.a.id}`);
    if (auditApi.status === 404) {
      await expect
        .poll(() => page.locator("#audit-state").textContent())
        .toContain("not available");
    } else {
      await expect.poll(() => page.locator("#audit-log tbody tr").count()).toBeGreaterThan(0);
      expect(await page.locator("#audit-log").textContent()).not.toContain(shown);
    }
    const metricsApi = await admin(`/admin/tenants/${tenants.a.id}/metrics?step=hour`);
    if (metricsApi.status === 404) {
      expect(await page.locator("#metrics-state").textContent()).toContain("not available");
    } else {
      expect(await page.locator("#traffic-chart canvas").count()).toBe(1);
    }

    const token = stack.vars.ADMIN_TOKEN ?? "";
    expect(await kept(page)).not.toContain(token);
    expect(urls.filter((url) => url.includes(token))).toEqual([]);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it("shows a tenant itself alone, on a phone's screen, with its key kept nowhere", async () => {
    const { page, urls, bodies } = await openConsole();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.check('input[name="role"][value="tenant"]');
    await page.fill("#credential", tenants.a.key);
    await page.press("#credential", "Enter");
    await expect.poll(() => page.locator("#summary").textContent()).toContain("Pages / budget");
    expect(await page.locator("#operator").isHidden()).toBe(true);

    const dom = await page.content();
    for (const trace of [tenants.b.id, tenants.b.name]) {
      expect(dom).not.toContain(trace);
      expect(urls.filter((url) => url.includes(trace))).toEqual([]);
      expect(bodies.filter((body) => body.includes(trace))).toEqual([]);
    }
    // Only the tenant API, never the admin one.
    const api = urls.filter((url) => !url.includes("/console"));
    expect(api.length).toBeGreaterThan(0);
    expect(api.filter((url) => new URL(url).pathname.startsWith("/admin"))).toEqual([]);
    expect(await kept(page)).not.toContain(tenants.a.key);
    expect(urls.filter((url) => url.includes(tenants.a.key))).toEqual([]);

    // Fits the phone: nothing wider than the screen but the tables' own scrolling boxes.
    const width = await page.evaluate("document.documentElement.scrollWidth");
    expect(width).toBeLessThanOrEqual(390);

    await page.click("#signout");
    expect(await page.locator("#signin").isVisible()).toBe(true);
    expect(await page.locator("#summary").textContent()).toBe("");
    await page.close();
  });
});
