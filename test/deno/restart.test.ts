import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevStack, startDevStack } from "../../dev/stack";
import { writeTestVars } from "../e2e/test-stack";

/**
 * The Deno server keeps its state on disk: stopped and started again on the same --data
 * directory, it still knows the tenant, its key, its job (owner and cached result) and the
 * creation ledger's idempotency keys. The fake Waveline restarts empty, so the finished job can
 * only come from the proxy's own store.
 */
describe("the Deno server across a restart", () => {
  let workDir: string;
  let vars: Record<string, string>;
  let varsFile: string;
  let stack: DevStack | undefined;
  const start = () =>
    startDevStack({ vars, envFile: varsFile, persistTo: join(workDir, "data"), runtime: "deno" });

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "waveline-restart-"));
    ({ file: varsFile, vars } = await writeTestVars(workDir));
  });

  afterAll(async () => {
    await stack?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("keeps tenants, keys, jobs and idempotency keys", async () => {
    stack = await start();
    const call = (path: string, credential: string, init: RequestInit = {}) =>
      fetch(`${stack?.proxyUrl}${path}`, {
        ...init,
        headers: {
          Authorization: `Bearer ${credential}`,
          "Content-Type": "application/json",
          ...init.headers,
        },
      });
    const tenant = (await (
      await call("/admin/tenants", vars.ADMIN_TOKEN ?? "", {
        method: "POST",
        body: JSON.stringify({ name: "acme" }),
      })
    ).json()) as { id: string };
    const { key } = (await (
      await call(`/admin/tenants/${tenant.id}/keys`, vars.ADMIN_TOKEN ?? "", {
        method: "POST",
        body: JSON.stringify({ name: "backend" }),
      })
    ).json()) as { key: string };
    const create = () =>
      call("/extract-document", key, {
        method: "POST",
        headers: { "Idempotency-Key": "restart-1" },
        body: JSON.stringify({ fileName: "a.txt", contentType: "text/plain", content: "INV-1" }),
      });
    const created = await create();
    expect(created.status).toBe(201);
    const job = (await created.json()) as { id: string };
    let status = "";
    for (let poll = 0; poll < 40 && status !== "COMPLETED"; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = ((await (await call(`/jobs/${job.id}`, key)).json()) as { status: string }).status;
    }
    expect(status).toBe("COMPLETED");
    await stack.stop();

    stack = await start();
    const read = await call(`/jobs/${job.id}`, key);
    expect(read.status).toBe(200);
    expect(read.headers.get("X-Cache")).toBe("HIT; tier=kv");
    expect(await read.json()).toMatchObject({ id: job.id, status: "COMPLETED" });
    const listed = (await (await call("/jobs", key)).json()) as { items: { id: string }[] };
    expect(listed.items.map((item) => item.id)).toEqual([job.id]);
    const replayed = await create();
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await replayed.json()) as { id: string }).id).toBe(job.id);
  });
});
