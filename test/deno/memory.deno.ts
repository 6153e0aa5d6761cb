/**
 * The Deno host's memory with many finished jobs whose results are large: a finished watcher keeps
 * nothing large, and an idle object is evicted and built again from its storage. Runs under Deno
 * with `--v8-flags=--expose-gc` (spawned by memory.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DurableObjectHost,
  type DurableObjectState,
} from "../../src/platform/deno/durable-objects.ts";
import { installWorkersGlobals } from "../../src/platform/deno/globals.ts";
import { openRuntime } from "../../src/platform/deno/runtime.ts";
import { loadWorker } from "../../src/platform/deno/worker.ts";
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
  installWorkersGlobals();
  const upstream = largeJobsUpstream();
  const dir = mkdtempSync(join(tmpdir(), "waveline-memory-"));
  const runtime = openRuntime(await loadWorker(), {
    dataDir: dir,
    vars: {
      WAVELINE_API_URL: `http://127.0.0.1:${upstream.addr.port}`,
      WAVELINE_API_KEY: TEST_WAVELINE_KEY,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      TOKEN_SIGNING_KEYS: JSON.stringify(TEST_SIGNING_KEYS),
    },
  });
  const watchers = runtime.env.JOB_WATCHER as ReturnType<DurableObjectHost["namespace"]>;
  const finish = async (id: string) => {
    const answer = (await watchers.getByName(id).read(id, 0)) as { ok: boolean };
    assert.equal(answer.ok, true);
  };
  for (let i = 0; i < 5; i++) await finish(`warm-${i}`);
  const baseline = heapAfterGc();
  for (let i = 0; i < JOBS; i++) await finish(`job-${i}`);
  const after = heapAfterGc();
  console.log(
    `heap: ${(baseline / MIB).toFixed(1)} MiB before, ${(after / MIB).toFixed(1)} MiB after ${JOBS} jobs`,
  );
  // Each job held would add 1 MiB: 150 MiB over a baseline of a few tens.
  assert.ok(after < baseline * 1.5 + 8 * MIB, `${after} against ${baseline}`);
  // A finished job is still answered, from KV, by its watcher.
  assert.equal(((await watchers.getByName("job-0").read("job-0", 0)) as { ok: boolean }).ok, true);
  await runtime.close();
  await upstream.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

let built = 0;

class Tally {
  constructor(readonly ctx: DurableObjectState) {
    built++;
  }
  async add(): Promise<number> {
    const n = ((await this.ctx.storage.get<number>("n")) as number | undefined) ?? 0;
    await this.ctx.storage.put("n", n + 1);
    return n + 1;
  }
  events(): Response {
    return new Response(new ReadableStream({ start() {} }));
  }
  fetch(): Response {
    return this.events();
  }
}

Deno.test("an idle object is evicted and built again from its storage; an open stream keeps it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "waveline-evict-"));
  built = 0;
  const host = new DurableObjectHost({
    dir,
    env: {},
    classes: { Tally: Tally as never },
    waitUntil: () => {},
    idleMs: 100,
  });
  const tallies = host.namespace("Tally");
  const held = tallies.getByName("a");
  assert.equal(await held.add(), 1);
  await sleep(300);
  // The same stub, after an eviction: a new instance, with what its storage kept.
  assert.equal(await held.add(), 2);
  assert.equal(built, 2);

  const stream = await tallies.getByName("b").fetch("https://tally/events");
  await sleep(300);
  assert.equal(await tallies.getByName("b").add(), 1);
  assert.equal(built, 3, "an object with an open stream is not evicted");
  await stream.body?.cancel();
  await sleep(300);
  assert.equal(await tallies.getByName("b").add(), 2);
  assert.equal(built, 4, "a closed stream lets it go");
  host.close();
  rmSync(dir, { recursive: true, force: true });
});
