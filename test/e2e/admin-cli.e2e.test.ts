import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/stack";
import { startTestStack, type TestStack } from "./test-stack";

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `npm run admin` as an operator uses it: a real child process talking HTTP to `wrangler dev`,
 * whose effects are then checked the way a tenant would notice them, with its API key.
 */
describe("npm run admin", () => {
  let stack: TestStack;
  let adminToken: string;
  let tenantId: string;
  let key: string;
  let keyId: string;

  beforeAll(async () => {
    stack = await startTestStack();
    adminToken = stack.vars.ADMIN_TOKEN ?? "";
  });

  afterAll(async () => {
    await stack?.stop();
  });

  function admin(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "scripts/admin.ts", ...args],
        { env: { ...process.env, PROXY_URL: stack.proxyUrl, ADMIN_TOKEN: adminToken, ...env } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async function statusWithKey(apiKey: string, path = "/jobs"): Promise<number> {
    const response = await fetch(`${stack.proxyUrl}${path}`, {
      headers: { Authorization: `Bearer ${apiKey}` },
    });
    await response.body?.cancel();
    return response.status;
  }

  it("tenants create shows the new tenant's id", async () => {
    const run = await admin(["tenants", "create", "Acme Corp", "--origin", "https://app.acme.com"]);

    expect(run).toMatchObject({ code: 0, stderr: "" });
    tenantId = run.stdout.match(/created tenant (tnt_[0-9a-f]+)/)?.[1] ?? "";
    expect(tenantId).not.toBe("");
    expect(run.stdout).toContain("https://app.acme.com");
  });

  it("keys create prints a key, once, that then works against the proxy", async () => {
    const run = await admin(["keys", "create", tenantId, "--name", "backend"]);

    expect(run.code).toBe(0);
    key = run.stdout.match(/\b(wlp_[A-Za-z0-9_-]+)/)?.[1] ?? "";
    keyId = run.stdout.match(/\b(key_[0-9a-f]+)/)?.[1] ?? "";
    expect(key).toMatch(/^wlp_.{20,}/);
    expect(run.stdout).toMatch(/only time/);
    expect(await statusWithKey(key)).toBe(200);
  });

  it("keys list shows the key's id and prefix but never the key", async () => {
    const run = await admin(["keys", "list", tenantId]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(keyId);
    expect(run.stdout).toContain(key.slice(0, 10));
    expect(run.stdout).not.toContain(key);
  });

  it("--json prints the proxy's answer as parseable JSON", async () => {
    const [show, list] = await Promise.all([
      admin(["tenants", "show", tenantId, "--json"]),
      admin(["keys", "list", tenantId, "--json"]),
    ]);

    expect(JSON.parse(show.stdout)).toMatchObject({
      id: tenantId,
      name: "Acme Corp",
      allowedOrigins: ["https://app.acme.com"],
      disabled: false,
    });
    const keys = JSON.parse(list.stdout).items;
    expect(keys).toEqual([expect.objectContaining({ id: keyId, revokedAt: null })]);
    expect(JSON.stringify(keys)).not.toContain(key);
  });

  it("jobs adopt gives a job created outside the proxy to the tenant, and usage counts it", async () => {
    // Made on Waveline directly (the fake's control API), so the proxy has no record of it.
    const outside = await fetch(`${stack.fake?.origin}/__control/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: "COMPLETED", pages: 3, fileName: "outside.pdf" }),
    });
    const { id: jobId } = (await outside.json()) as { id: string };
    expect(await statusWithKey(key, `/jobs/${jobId}`)).toBe(404);

    const adopt = await admin(["jobs", "adopt", jobId, "--tenant", tenantId, "--subject", "u-42"]);
    expect(adopt.code).toBe(0);
    expect(adopt.stdout).toContain(jobId);
    expect(await statusWithKey(key, `/jobs/${jobId}`)).toBe(200);

    const day = 24 * 60 * 60 * 1000;
    const usage = await admin([
      "usage",
      tenantId,
      "--from",
      new Date(Date.now() - day).toISOString(),
      "--to",
      new Date(Date.now() + day).toISOString(),
    ]);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toMatch(/jobs created:\s+1\n/);
    expect(usage.stdout).toMatch(/jobs completed:\s+1\n/);
    expect(usage.stdout).toMatch(/pages billed:\s+3\n/);
  });

  it("tenants update sets page budgets, and usage shows what is left of this month's", async () => {
    const update = await admin([
      "tenants",
      "update",
      tenantId,
      "--pages-per-month",
      "10",
      "--end-user-pages-per-month",
      "none",
    ]);
    expect(update.code).toBe(0);
    expect(update.stdout).toMatch(/pages\/month:\s+10\n/);
    expect(update.stdout).toMatch(/pages\/month\/user:\s+no budget\n/);

    const usage = await admin(["usage", tenantId]);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toMatch(/pages used:\s+3\n/);
    expect(usage.stdout).toMatch(/pages left:\s+7\n/);

    const wrong = await admin(["tenants", "update", tenantId, "--pages-per-month", "lots"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--pages-per-month takes a whole number of pages or "none"');
  });

  it("jobs show reads any job through the cache, --no-cache refetches, cache purge drops it", async () => {
    const job = "00000000-0000-4000-8000-000000000001";

    const shown = await admin(["jobs", "show", job]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: job, status: "COMPLETED" });

    const purged = await admin(["cache", "purge", job]);
    expect(purged.code).toBe(0);
    expect(purged.stdout).toContain(`purged job ${job}`);
    expect((await admin(["jobs", "show", job, "--no-cache"])).code).toBe(0);
  });

  it("tenants update sets a creation limit the proxy then enforces, and default resets it", async () => {
    const limited = await admin(["tenants", "update", tenantId, "--creates-per-minute", "1"]);
    expect(limited.code).toBe(0);
    expect(limited.stdout).toMatch(/creates\/min:\s+1\n/);

    const create = () =>
      fetch(`${stack.proxyUrl}/extract-document`, {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ fileName: "a.txt", contentType: "text/plain", content: "hi" }),
      }).then((response) => response.status);
    expect([await create(), await create()]).toEqual([201, 429]);

    const reset = await admin(["tenants", "update", tenantId, "--creates-per-minute", "default"]);
    expect(reset.stdout).toMatch(/creates\/min:\s+default\n/);
    expect(
      (await admin(["tenants", "update", tenantId, "--creates-per-minute", "lots"])).code,
    ).toBe(2);
  });

  it("tenants update sets end users' shares: a noisy end user is refused while another reads on", async () => {
    const shared = await admin([
      "tenants",
      "update",
      tenantId,
      "--reads-per-minute",
      "100",
      "--end-user-reads-per-minute",
      "1",
    ]);
    expect(shared.code).toBe(0);
    expect(shared.stdout).toMatch(/reads\/min\/user:\s+1\n/);
    expect(shared.stdout).toMatch(/streams\/user:\s+a quarter\n/);

    const tokenOf = async (sub: string) => {
      const minted = await fetch(`${stack.proxyUrl}/tokens`, {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ sub }),
      });
      return ((await minted.json()) as { token: string }).token;
    };
    const noisy = await tokenOf("noisy");
    const quiet = await tokenOf("quiet");

    expect([await statusWithKey(noisy), await statusWithKey(noisy)]).toEqual([200, 429]);
    expect(await statusWithKey(quiet)).toBe(200);

    const reset = await admin([
      "tenants",
      "update",
      tenantId,
      "--reads-per-minute",
      "default",
      "--end-user-reads-per-minute",
      "default",
    ]);
    expect(reset.stdout).toMatch(/reads\/min\/user:\s+a quarter\n/);
  });

  it("tenants revoke-tokens: a browser token minted before then answers 401, the key still works", async () => {
    const minted = await fetch(`${stack.proxyUrl}/tokens`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: "{}",
    });
    const { token } = (await minted.json()) as { token: string };
    expect(await statusWithKey(token)).toBe(200);

    const run = await admin(["tenants", "revoke-tokens", tenantId]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain("revoked every browser token");
    expect(await statusWithKey(token)).toBe(401);
    expect(await statusWithKey(key)).toBe(200);
  });

  it("keys create --scopes --expires-at, keys rotate, and audit", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await admin([
      "keys",
      "create",
      tenantId,
      "--name",
      "reader",
      "--scopes",
      "jobs:read,usage:read",
      "--expires-at",
      expiresAt,
      "--json",
    ]);
    expect(created.code).toBe(0);
    const reader = JSON.parse(created.stdout) as { id: string; key: string; scopes: string[] };
    expect(reader.scopes).toEqual(["jobs:read", "usage:read"]);
    expect(await statusWithKey(reader.key)).toBe(200);
    expect(await statusWithKey(reader.key, "/webhooks")).toBe(403);

    const rotated = await admin(["keys", "rotate", tenantId, reader.id]);
    expect(rotated.code).toBe(0);
    const newKey = rotated.stdout.match(/\b(wlp_[A-Za-z0-9_-]+)/)?.[1] ?? "";
    expect(rotated.stdout).toContain(`the old key ${reader.id} works until`);
    expect(await statusWithKey(newKey, "/usage")).toBe(200);
    expect(await statusWithKey(reader.key, "/usage")).toBe(200);

    const audit = await admin(["audit", "--tenant", tenantId, "--limit", "2"]);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/admin:[0-9a-f]{12}\s+key\.rotate/);
    expect(audit.stdout).toMatch(/admin:[0-9a-f]{12}\s+key\.create/);
    expect(audit.stdout).toContain("more: --cursor ");
    expect(audit.stdout).not.toContain(newKey);
  });

  it("keys revoke: the key then answers 401", async () => {
    const run = await admin(["keys", "revoke", tenantId, keyId]);

    expect(run.code).toBe(0);
    expect(await statusWithKey(key)).toBe(401);
  });

  it("tenants disable: a live key then answers 403, and enable undoes it", async () => {
    const created = await admin(["keys", "create", tenantId, "--json"]);
    const liveKey: string = JSON.parse(created.stdout).key;
    expect(await statusWithKey(liveKey)).toBe(200);

    expect((await admin(["tenants", "disable", tenantId])).code).toBe(0);
    expect(await statusWithKey(liveKey)).toBe(403);

    expect((await admin(["tenants", "enable", tenantId])).code).toBe(0);
    expect(await statusWithKey(liveKey)).toBe(200);
  });

  it("webhooks: create prints the secret once; list, rotate, deliveries and delete work", async () => {
    const url = "https://hooks.example.com/waveline";
    const created = await admin(["webhooks", "create", tenantId, url, "--event", "job.failed"]);
    expect(created.code).toBe(0);
    const secret = created.stdout.match(/secret: (whsec_\S+)/)?.[1];
    const webhookId = created.stdout.match(/(ep_\w+)/)?.[1] ?? "";
    expect(secret).toBeDefined();

    const listed = await admin(["webhooks", "list", tenantId]);
    expect(listed.stdout).toContain(`${webhookId}  ${url}  job.failed`);
    expect(listed.stdout).not.toContain("whsec_");
    const rotated = await admin(["webhooks", "rotate-secret", tenantId, webhookId]);
    expect(rotated.stdout).toMatch(/new secret: whsec_/);
    expect(rotated.stdout).not.toContain(secret);
    expect((await admin(["webhooks", "deliveries", tenantId, webhookId])).stdout).toContain(
      "no deliveries",
    );
    expect((await admin(["webhooks", "delete", tenantId, webhookId])).code).toBe(0);
    const gone = await admin(["webhooks", "delete", tenantId, webhookId]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("error: 404 webhook not found");
  });

  it("tenants list prints every tenant, page after page, under one header", async () => {
    const created: string[] = [];
    for (let i = 0; i < 60; i++) {
      const response = await fetch(`${stack.proxyUrl}/admin/tenants`, {
        method: "POST",
        headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: `listed ${i}` }),
      });
      created.push(((await response.json()) as { id: string }).id);
    }

    const run = await admin(["tenants", "list"]);

    expect(run).toMatchObject({ code: 0, stderr: "" });
    const ids = run.stdout.match(/^tnt_[0-9a-f]+/gm) ?? [];
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([tenantId, ...created]));
    // The newest last (those made in the same millisecond, by id).
    expect(new Set(ids.slice(-60))).toEqual(new Set(created));
    expect(run.stdout.match(/^ID\s+NAME/gm)).toHaveLength(1);
  });

  it("a wrong ADMIN_TOKEN exits 1 with the proxy's 401", async () => {
    const run = await admin(["tenants", "list"], { ADMIN_TOKEN: "not-the-admin-token" });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error: 401 missing or invalid credentials");
    expect(run.stdout + run.stderr).not.toContain("not-the-admin-token");
  });

  it("an unknown command exits 2 with a hint", async () => {
    const run = await admin(["tenants", "destroy", tenantId]);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown command "tenants destroy".*list, create/);
  });

  it("an unreachable proxy exits 1 and says so", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = await admin(["tenants", "list", "--url", url]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot reach the proxy at ${url}: is \`npm run dev\` running?`);
  });
});
