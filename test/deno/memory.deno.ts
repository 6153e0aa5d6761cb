/**
 * The Deno host's memory with many finished jobs whose results are large: a finished watcher keeps
 * nothing large, and an idle actor is evicted and built again from its storage. Runs under Deno
 * with `--v8-flags=--expose-gc` (spawned by memory.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorHost, type ActorParts } from "../../src/platform/deno/actors.ts";
import { openRuntime } from "../../src/platform/deno/runtime.ts";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_KEYS, TEST_WAVELINE_KEY } from "../constants.ts";

const MIB = 1024 * 1024;
const JOBS = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run with --v8-flags=--expose-gc");
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
}

/** A Waveline whose every job is COMPLETED with a result of 1 MiB (distinct per job). */
function largeJobsUpstream() {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const id = new URL(request.url).pathname.split("/").pop() ?? "";
    return Response.json({
      id,
      createdAt: new Date().toISOString(),
      status: "COMPLETED",
      type: "invoice",
      pages: 1,
      fileName: "a.pdf",
      result: { text: id.padEnd(MIB, "x") },
      urls: { get: `https://waveline.test/jobs/${id}` },
    });
  });
}

Deno.test(`${JOBS} finished jobs of 1 MiB: the heap stays flat`, async () => {
  const upstream = largeJobsUpstream();
  const dir = mkdtempSync(join(tmpdir(), "waveline-memory-"));
  const runtime = openRuntime({
    dataDir: dir,
    vars: {
      WAVELINE_API_URL: `http://127.0.0.1:${upstream.addr.port}`,
      WAVELINE_API_KEY: TEST_WAVELINE_KEY,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      TOKEN_SIGNING_KEYS: JSON.stringify(TEST_SIGNING_KEYS),
    },
  });
  const watchers = runtime.services?.watchers;
  assert.ok(watchers, "configured");
  const finish = async (id: string) => assert.equal((await watchers.read(id, 0)).ok, true);
  for (let i = 0; i < 5; i++) await finish(`warm-${i}`);
  const baseline = heapAfterGc();
  for (let i = 0; i < JOBS; i++) await finish(`job-${i}`);
  const after = heapAfterGc();
  console.log(
    `heap: ${(baseline / MIB).toFixed(1)} MiB before, ${(after / MIB).toFixed(1)} MiB after ${JOBS} jobs`,
  );
  // Each job held would add 1 MiB: 150 MiB over a baseline of a few tens.
  assert.ok(after < baseline * 1.5 + 8 * MIB, `${after} against ${baseline}`);
  // A finished job is still answered, from the finished jobs' table, by its watcher.
  assert.equal((await watchers.read("job-0", 0)).ok, true);
  await runtime.close();
  await upstream.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

let built = 0;

/** An actor of the test's own that counts how often it is built. */
function tally({ storage }: ActorParts) {
  built++;
  return {
    async add(): Promise<number> {
      const n = (await storage.get<number>("n")) ?? 0;
      await storage.put({ n: n + 1 });
      return n + 1;
    },
    events(): ReadableStream<Uint8Array> {
      return new ReadableStream({ start() {} });
    },
  };
}

Deno.test("an idle actor is evicted and built again from its storage; an open stream keeps it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "waveline-evict-"));
  built = 0;
  const host = new ActorHost({ dir, waitUntil: () => {}, idleMs: 100 });
  const tallies = host.kind("Tally", tally, 1000);
  const held = tallies("a");
  assert.equal(await held.add(), 1);
  await sleep(300);
  // The same handle, after an eviction: a new instance, with what its storage kept.
  assert.equal(await held.add(), 2);
  assert.equal(built, 2);

  const stream = await tallies("b").events();
  await sleep(300);
  assert.equal(await tallies("b").add(), 1);
  assert.equal(built, 3, "an actor with an open stream is not evicted");
  await stream.cancel();
  await sleep(300);
  assert.equal(await tallies("b").add(), 2);
  assert.equal(built, 4, "a closed stream lets it go");
  host.close();
  rmSync(dir, { recursive: true, force: true });
});
