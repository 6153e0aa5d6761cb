import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/stack";
import { E2E_RUNTIME, writeTestVars } from "./test-stack";

const run = promisify(execFile);

/**
 * The README's promise, kept by a test: `npm run dev` (and `npm run dev:deno`) starts the proxy and
 * the fake Waveline as real processes and prints a curl line that returns a seeded job through it.
 */
const command = E2E_RUNTIME === "deno" ? "npm run dev:deno" : "npm run dev";

describe(command, () => {
  let dev: ChildProcess;
  let printed = "";
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "waveline-dev-"));
    const { file: varsFile } = await writeTestVars(workDir);
    const args = ["--import", "tsx", "dev/run.ts", ...(E2E_RUNTIME === "deno" ? ["--deno"] : [])];
    dev = spawn(process.execPath, args, {
      env: {
        ...process.env,
        PORT: String(await freePort()),
        DEV_VARS_FILE: varsFile,
        DEV_PERSIST_TO: join(workDir, "state"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    dev.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      printed += chunk;
    });
    dev.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      printed += chunk;
    });
    // `npm run dev` runs wrangler three times (migrations, seed, dev): about 10 s alone, but over a
    // minute on two cores busy with the rest of the suite (both runtimes' end-to-end files).
    await waitFor(
      () => /Ctrl-C stops everything/.test(printed),
      170_000,
      () => printed,
    );
  }, 180_000);

  afterAll(async () => {
    if (dev.exitCode === null) {
      const exited = new Promise((resolve) => dev.once("exit", resolve));
      dev.kill("SIGINT");
      await exited;
    }
    rmSync(workDir, { recursive: true, force: true });
  });

  it("prints a curl line that returns a seeded job through the proxy", async () => {
    const curlLine = printed
      .split("\n")
      .find((line) => line.trim().startsWith("curl ") && line.includes("/jobs/00000000-"));
    expect(curlLine).toBeDefined();

    const { stdout } = await run("sh", ["-c", `${curlLine} --silent --show-error --fail`]);
    const job = JSON.parse(stdout);

    expect(job).toMatchObject({ status: "COMPLETED", result: { invoiceNumber: "INV-0001" } });
    const proxyOrigin = curlLine?.match(/http:\/\/127\.0\.0\.1:\d+/)?.[0];
    expect(job.urls.get).toBe(`${proxyOrigin}/jobs/${job.id}`);
  });

  it("prints a curl line that registers the local webhook receiver, which then logs deliveries", async () => {
    const lines = printed.split("\n").map((line) => line.trim());
    const register = lines.find((line) => line.startsWith("curl ") && line.endsWith("/webhooks"));
    const create = lines.find(
      (line) => line.startsWith("curl ") && line.endsWith("/extract-document"),
    );
    expect(register).toBeDefined();
    expect(create).toMatch(/-H "Idempotency-Key: [0-9a-f-]{36}"/);

    const endpoint = JSON.parse(
      (await run("sh", ["-c", `${register} --silent --show-error --fail`])).stdout,
    );
    expect(endpoint.secret).toMatch(/^whsec_/);
    const job = JSON.parse(
      (await run("sh", ["-c", `${create} --silent --show-error --fail`])).stdout,
    );

    await waitFor(
      () => printed.includes(`job.completed for job ${job.id}`),
      20_000,
      () => printed,
    );
  });

  it("prints the exports the README's operator examples use, and they work", async () => {
    const line = printed.split("\n").find((text) => text.trim().startsWith("export TENANT_ID="));
    expect(line).toBeDefined();
    const proxyOrigin = printed.match(/Waveline proxy on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];

    const { stdout } = await run("sh", [
      "-c",
      `${line} && curl --silent --show-error --fail -H "Authorization: Bearer $ADMIN_TOKEN" ${proxyOrigin}/admin/tenants/$TENANT_ID`,
    ]);

    expect(JSON.parse(stdout)).toMatchObject({ id: "tnt_demo", name: "demo" });
  });

  it("refuses a request without credentials, over real HTTP", async () => {
    const proxyOrigin = printed.match(/Waveline proxy on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];

    const response = await fetch(`${proxyOrigin}/jobs/00000000-0000-4000-8000-000000000001`);

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: "missing or invalid credentials",
      code: "authentication_failed",
    });
  });
});

async function waitFor(done: () => boolean, timeoutMs: number, context: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
