import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../e2e/test-stack";
import { launchChromium, skipWithoutChromium } from "./chromium";

/**
 * The console (/console) in real headless Chromium against `wrangler dev`: the operator signs in
 * with the admin token, sees the tenants (50 at a time) with their traffic as the metrics API has it (and a new request
 * move it), creates a key with an expiry and scopes, rotates and revokes it and reads that in the
 * audit log; a tenant signs in with its API key and sees itself alone. The credential never
 * reaches the address bar or the browser's storage.
 */
const skip = skipWithoutChromium("the console browser test");
// README's picture is refreshed on demand (`CONSOLE_SCREENSHOT=1`); otherwise a test artifact.
const SCREENSHOT = fileURLToPath(
  new URL(
    process.env.CONSOLE_SCREENSHOT ? "../../docs/console.png" : "../../test-results/console.png",
    import.meta.url,
  ),
);

interface Totals {
  requests: number;
  cacheHits: number;
  upstreamCalls: number;
  upstreamCallsSaved: number;
}
interface ApiKeyListed {
  id: string;
  name: string;
  revokedAt: string | null;
  expiresAt: string | null;
  scopes: string[];
}

describe.skipIf(skip)("the console in headless Chromium", () => {
  let stack: TestStack;
  let browser: BrowserContext;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
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
    // Metrics flush within 200 ms, so the console's traffic shows what the test did at once.
    stack = await startTestStack({ CONSOLE_ENABLED: "true", METRICS_FLUSH_MS: "200" });
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
    chromium = await launchChromium({
      viewport: { width: 1100, height: 900 },
      // `datetime-local` inputs read in UTC, like the times the console shows.
      timezoneId: "UTC",
    });
    browser = chromium.browser;
  });

  afterAll(async () => {
    await chromium?.close();
    await stack?.stop();
  });

  /** As tenant A: a job created, read until it is done, then read twice more from the cache. */
  async function trafficOfTenantA(): Promise<{ jobId: string; requests: number }> {
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.proxyUrl}${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${tenants.a.key}`, "Content-Type": "application/json" },
      });
    const created = await call("/extract-document", {
      method: "POST",
      body: JSON.stringify({
        fileName: "console-traffic.txt",
        contentType: "text/plain",
        content: "Invoice INV-1, total 12 EUR",
        shape: [{ name: "total", type: "number" }],
      }),
    });
    expect(created.status).toBe(201);
    const { id: jobId } = (await created.json()) as { id: string };
    let requests = 1;
    for (let round = 0; round < 100; round++) {
      requests++;
      const job = (await (await call(`/jobs/${jobId}`)).json()) as { status: string };
      if (job.status === "COMPLETED") break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (let i = 0; i < 2; i++) {
      requests++;
      expect((await call(`/jobs/${jobId}`)).status).toBe(200);
    }
    return { jobId, requests };
  }

  /** Tenant A's metrics as the API has them, once every request of the test has flushed. */
  async function metricsOfA(atLeast: number): Promise<Totals> {
    let totals: Totals | undefined;
    for (let tries = 0; tries < 120; tries++) {
      totals = (
        (await (await admin(`/admin/tenants/${tenants.a.id}/metrics`)).json()) as {
          totals: Totals;
        }
      ).totals;
      if (totals.requests >= atLeast) return totals;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`tenant A's metrics stayed at ${totals?.requests} requests`);
  }

  /** An ISO instant `ms` from now, to the minute, and as a `datetime-local` value (the page is UTC). */
  const minuteFromNow = (ms: number) => {
    const iso = new Date(Math.floor((Date.now() + ms) / 60_000) * 60_000).toISOString();
    return { iso, local: iso.slice(0, 16), shown: iso.slice(0, 16).replace("T", " ") };
  };

  it("signs the operator in: traffic that matches the metrics and moves, keys with a lifecycle, the audit log", async () => {
    const { jobId, requests } = await trafficOfTenantA();
    const totals = await metricsOfA(requests);
    expect(totals.requests).toBe(requests);
    expect(totals.upstreamCallsSaved).toBeGreaterThan(0);

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
    const rowOfA = page.locator(`#tenants tr[data-tenant="${tenants.a.id}"]`);
    expect(await rowOfA.locator("td.requests").textContent()).toBe(String(totals.requests));
    expect(await rowOfA.locator("td.saved").textContent()).toBe(String(totals.upstreamCallsSaved));
    expect(await rowOfA.locator("td.pages").textContent()).toMatch(/^\d+ \/ 500$/);
    expect(await rowOfA.locator("td.webhooks").textContent()).toBe(
      "0 delivered · 0 retrying · 0 failed",
    );
    const rowOfB = page.locator(`#tenants tr[data-tenant="${tenants.b.id}"]`);
    expect(await rowOfB.locator("td.requests").textContent()).toBe("0");

    await page.click(`button[aria-label="Open ${tenants.a.name}"]`);
    await expect.poll(() => page.locator("#keys tbody tr").count()).toBe(1);
    const figure = (term: string) =>
      page.locator(`#summary div:has(dt:text-is("${term}")) dd`).textContent();
    expect(await figure("Requests (1 h)")).toBe(String(totals.requests));
    expect(await figure("Upstream calls saved")).toBe(String(totals.upstreamCallsSaved));
    expect(await figure("Upstream calls made")).toBe(String(totals.upstreamCalls));
    expect(await page.locator("#traffic-chart canvas").count()).toBe(1);

    // The chart moves: one more read shows without a reload, within a flush and a refresh.
    const again = await fetch(`${stack.proxyUrl}/jobs/${jobId}`, {
      headers: { Authorization: `Bearer ${tenants.a.key}` },
    });
    expect(again.status).toBe(200);
    await expect
      .poll(() => figure("Requests (1 h)"), { timeout: 20_000, interval: 500 })
      .toBe(String(totals.requests + 1));
    expect(await page.locator("#traffic-chart canvas").count()).toBe(1);

    // A key with an expiry and fewer scopes.
    const expiry = minuteFromNow(30 * 24 * 3600_000);
    await page.fill("#new-key-name", "made-in-console");
    await page.fill("#new-key-expires", expiry.local);
    await page.uncheck('#new-key-scopes input[value="tokens:mint"]');
    await page.uncheck('#new-key-scopes input[value="webhooks:manage"]');
    await page.click("#new-key-form button[type=submit]");
    await expect.poll(() => page.locator("#new-key-value").textContent()).toMatch(/^wlp_/);
    const shown = (await page.locator("#new-key-value").textContent()) ?? "";
    const listed = (await (await admin(`/admin/tenants/${tenants.a.id}/keys`)).json()) as {
      items: ApiKeyListed[];
    };
    const made = listed.items.find((key) => key.name === "made-in-console");
    expect(made?.revokedAt).toBeNull();
    expect(made?.expiresAt).toBe(expiry.iso);
    expect(made?.scopes).toEqual(["jobs:read", "jobs:create", "usage:read"]);
    const madeRow = page.locator(`#keys tbody tr[data-key="${made?.id}"]`);
    await expect.poll(() => madeRow.locator("td.expires").textContent()).toBe(expiry.shown);
    expect(await madeRow.locator("td.scopes").textContent()).toBe(
      "jobs:read, jobs:create, usage:read",
    );
    expect(await madeRow.locator("td.last-used").textContent()).toBe("never");
    // The key shown works: it reads the tenant's own usage.
    const withShown = await fetch(`${stack.proxyUrl}/usage`, {
      headers: { Authorization: `Bearer ${shown}` },
    });
    expect(withShown.status).toBe(200);
    await page.click("#new-key-done");
    expect(await page.locator("#new-key-value").textContent()).toBe("");

    // Rotation: a new key shown once, the old one ending when the operator said.
    const ends = minuteFromNow(2 * 3600_000);
    await madeRow.locator("button", { hasText: "Rotate" }).click();
    await page.fill("#rotate-ends", ends.local);
    await page.click("#rotate-form button[type=submit]");
    await expect.poll(() => page.locator("#new-key-value").textContent()).toMatch(/^wlp_/);
    const rotated = (await page.locator("#new-key-value").textContent()) ?? "";
    expect(rotated).not.toBe(shown);
    expect(await page.locator("#new-key").textContent()).toContain(
      `the old key works until ${ends.shown} UTC`,
    );
    await expect.poll(() => madeRow.locator("td.expires").textContent()).toBe(ends.shown);
    expect(await page.locator("#keys tbody tr").count()).toBe(3);
    const afterRotation = (await (await admin(`/admin/tenants/${tenants.a.id}/keys`)).json()) as {
      items: ApiKeyListed[];
    };
    expect(afterRotation.items.find((key) => key.id === made?.id)?.expiresAt).toBe(ends.iso);
    const withRotated = await fetch(`${stack.proxyUrl}/usage`, {
      headers: { Authorization: `Bearer ${rotated}` },
    });
    expect(withRotated.status).toBe(200);
    await page.click("#new-key-done");
    expect(await page.locator("#new-key-value").textContent()).toBe("");

    await madeRow.locator("button", { hasText: "Revoke" }).click();
    await expect.poll(() => madeRow.locator("td.state").textContent()).toContain("revoked");
    const afterRevoke = (await (await admin(`/admin/tenants/${tenants.a.id}/keys`)).json()) as {
      items: ApiKeyListed[];
    };
    expect(afterRevoke.items.find((key) => key.id === made?.id)?.revokedAt).toBeTruthy();

    // The audit log has what the test did, and never a key.
    await expect.poll(() => page.locator("#audit-log tbody").textContent()).toContain("key.revoke");
    const audit = (await page.locator("#audit-log tbody").textContent()) ?? "";
    for (const action of ["key.create", "key.rotate", "key.revoke"])
      expect(audit).toContain(action);
    expect(audit).toContain(`key ${made?.id}`);
    const dom = await page.content();
    for (const secret of [shown, rotated, tenants.a.key]) expect(dom).not.toContain(secret);

    const token = stack.vars.ADMIN_TOKEN ?? "";
    expect(await kept(page)).not.toContain(token);
    expect(urls.filter((url) => url.includes(token))).toEqual([]);
    // README's picture: the tenant's traffic at the top of the page.
    await page.evaluate(
      "for (const box of document.querySelectorAll('.scroll')) box.scrollLeft = 0",
    );
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The operator's page fits a phone too: only the tables and the chart's box scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await madeRow
      .locator("xpath=..")
      .locator("tr")
      .last()
      .locator("button", { hasText: "Rotate" })
      .click();
    expect(await page.locator("#rotate-form").isVisible()).toBe(true);
    await page.click("#rotate-cancel");
    await expect
      .poll(() => page.evaluate("document.documentElement.scrollWidth"))
      .toBeLessThanOrEqual(390);
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
    // Its own traffic, and one end user's.
    expect(await page.locator("#summary").textContent()).toContain("Upstream calls saved");
    expect(await page.locator("#traffic-chart canvas").count()).toBe(1);
    await page.fill("#sub", "user-42");
    await page.click("#sub-form button[type=submit]");
    await expect.poll(() => page.locator("#tenant-title").textContent()).toContain("user-42");
    await expect.poll(() => page.locator("#summary").textContent()).toContain("Requests (1 h)0");
    await page.click("#all-users");
    await expect.poll(() => page.locator("#tenant-title").textContent()).toBe("Your usage");

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

  it("says in its panels when the metrics cannot be read, and still shows the rest", async () => {
    const off = await startTestStack({ CONSOLE_ENABLED: "true", METRICS_ENABLED: "false" });
    try {
      const page = await browser.newPage();
      await page.goto(`${off.proxyUrl}/console`);
      await page.fill("#credential", off.vars.ADMIN_TOKEN ?? "");
      await page.press("#credential", "Enter");
      const row = page.locator('#tenants tr[data-tenant="tnt_demo"]');
      await expect.poll(() => row.locator("td.requests").textContent()).toBe("unavailable");
      expect(await row.locator("td.requests").getAttribute("title")).toContain(
        "metrics_unavailable, HTTP 503",
      );
      expect(await row.locator("td.pages").textContent()).toBe("0 (no budget)");

      await page.click('button[aria-label="Open demo"]');
      await expect
        .poll(() => page.locator("#metrics-state").textContent())
        .toContain("Traffic could not be read");
      expect(await page.locator("#metrics-state").textContent()).toContain(
        "metrics_unavailable, HTTP 503",
      );
      expect(await page.locator("#summary").textContent()).toContain("Pages / budget");
      await expect.poll(() => page.locator("#keys tbody tr").count()).toBe(1);
      await page.close();
    } finally {
      await off.stop();
    }
  });
  it("lists tenants 50 at a time, reading usage and traffic only of the rows it shows", async () => {
    for (let i = 0; i < 50; i++) {
      expect((await admin("/admin/tenants", { name: `paged-${i}` })).status).toBe(201);
    }
    const total = ((await (await admin("/admin/tenants?limit=200")).json()) as { items: unknown[] })
      .items.length;
    expect(total).toBeGreaterThan(50);

    const { page, urls } = await openConsole();
    await page.fill("#credential", stack.vars.ADMIN_TOKEN ?? "");
    await page.press("#credential", "Enter");
    const rows = page.locator("#tenants tbody tr");
    // A hundred API calls (usage and traffic of each row) before the table fills.
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(50);
    const more = page.locator("#more-tenants");
    await expect.poll(() => more.isVisible()).toBe(true);
    const read = (part: string) => urls.filter((url) => url.includes(part)).length;
    expect(read("/usage")).toBe(50);
    expect(read("/metrics?step=hour")).toBe(50);

    await more.click();
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(total);
    await expect.poll(() => more.isVisible()).toBe(false);
    const ids = await page.evaluate(
      '[...document.querySelectorAll("#tenants tbody tr")].map((row) => row.dataset.tenant)',
    );
    expect(new Set(ids as string[]).size).toBe(total);
    expect(read("/usage")).toBe(total);
    await page.close();
  });
});
