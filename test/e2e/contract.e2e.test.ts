import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEEDED_JOB_IDS } from "../../dev/fake-waveline";
import { DEV_API_KEY } from "../../dev/seed";
import { SERVER_NAME, startTestStack, type TestStack } from "./test-stack";

/**
 * The contract tests a third party would generate from public/openapi.json, run as they would run
 * them: Portman turns the document, as it is, into a Postman collection with contract tests (status,
 * content type, JSON schema, documented headers) and fuzzed variations that must answer the
 * documented 400; Newman sends it to a live stack. test/contract/portman-config.json only supplies
 * what no document can know: credentials, the ids of things that exist, the order that creates
 * them before they are read (a job created after each tenant endpoint, whose delivery is listed and
 * redelivered once it ended; the operators' redelivery, on a fresh tenant with no jobs, answers the
 * documented 404).
 */
// Asynchronous: the fake Waveline answers from this very process while the tools run.
const run = promisify(execFile);

describe(`the OpenAPI document's contract tests (Portman + Newman) against ${SERVER_NAME}`, () => {
  let stack: TestStack;
  let workDir: string;

  beforeAll(async () => {
    stack = await startTestStack();
    workDir = mkdtempSync(join(tmpdir(), "waveline-contract-"));
  });

  afterAll(async () => {
    await stack?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  // Two minutes: the redeliveries wait for a job to end; the run itself takes about half a minute.
  it("passes every generated request and assertion, fuzzed variations included", {
    timeout: 120_000,
  }, async () => {
    const bin = (name: string) => resolve("node_modules/.bin", name);
    const collection = join(workDir, "collection.json");
    const report = join(workDir, "report.json");
    // Portman writes scratch files under its working directory: the temp dir, not the repository.
    await run(
      bin("portman"),
      [
        ["--local", resolve("public/openapi.json")],
        ["--baseUrl", stack.proxyUrl],
        ["--portmanConfigFile", resolve("test/contract/portman-config.json")],
        ["--output", collection],
      ].flat(),
      { cwd: workDir },
    );
    const variables = {
      bearerToken: DEV_API_KEY,
      adminToken: stack.vars.ADMIN_TOKEN ?? "",
      completedJobId: SEEDED_JOB_IDS.completed,
      failedJobId: SEEDED_JOB_IDS.failed,
    };
    const newman = () =>
      run(
        bin("newman"),
        [
          "run",
          collection,
          ...Object.entries(variables).flatMap(([key, value]) => ["--env-var", `${key}=${value}`]),
          ["--reporters", "cli,json", "--reporter-json-export", report, "--disable-unicode"],
        ].flat(),
        { cwd: workDir, maxBuffer: 64 * 1024 * 1024 },
      );
    // Newman exits 1 when an assertion fails: the report says which, its output shows them.
    const output = await newman().then(
      ({ stdout }) => stdout,
      (err: { stdout?: string }) => String(err.stdout ?? err),
    );
    const { stats, failures, executions } = (
      JSON.parse(readFileSync(report, "utf8")) as {
        run: {
          stats: Record<"requests" | "assertions", { total: number; failed: number }>;
          failures: { source?: { name?: string }; error: { test?: string; message: string } }[];
          executions: { request: { url: { path: string[] } }; response: { code: number } }[];
        };
      }
    ).run;
    process.stderr.write(
      `contract tests: ${stats.requests.total} requests, ${stats.assertions.total} assertions, ${stats.assertions.failed} failed\n`,
    );

    // One short line per failure: a schema failure's message repeats itself thousands of times, and
    // printing the whole report outlasted the test's timeout.
    expect(
      failures.map(
        ({ source, error }) =>
          `${source?.name ?? "?"} / ${error.test ?? "?"}: ${error.message.slice(0, 300)}`,
      ),
      output.slice(-4000),
    ).toEqual([]);
    // A real redelivery under each base path, its answer checked against the document.
    const redeliveries = executions.filter(
      ({ request }) => request.url.path.at(-1) === "redeliver" && request.url.path[0] !== "admin",
    );
    expect(redeliveries.map(({ response }) => response.code)).toEqual([200, 200]);
    // Every operation of the document, under both base paths, plus the fuzzed variations.
    expect(stats.requests.total).toBeGreaterThanOrEqual(90);
  });
});
