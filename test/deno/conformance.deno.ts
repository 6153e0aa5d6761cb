/**
 * The conformance suites against the Deno adapters, under Deno (`deno test`, spawned by
 * conformance.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ObjectStorage } from "../../src/core/objects.ts";
import {
  DurableObjectHost,
  type DurableObjectState,
} from "../../src/platform/deno/durable-objects.ts";
import type { Harness } from "../conformance/harness.ts";
import { objectStorageConformance } from "../conformance/object-storage.ts";

/** What each case opened, closed when it ends (a host's alarm timers, its files). */
let opened: (() => void)[] = [];
const harness: Harness = {
  assert,
  test: (name, run) =>
    Deno.test(name, async () => {
      try {
        await run();
      } finally {
        for (const close of opened.reverse()) close();
        opened = [];
      }
    }),
};

/** An object that hands its storage out, so that a case can use it as the actor would. */
class Holder {
  static last: DurableObjectState["storage"] | undefined;
  constructor(ctx: DurableObjectState) {
    Holder.last = ctx.storage;
  }
  ready(): void {}
  alarm(): void {}
}

objectStorageConformance(harness, async () => {
  const dir = mkdtempSync(join(tmpdir(), "waveline-conformance-"));
  const host = new DurableObjectHost({
    dir,
    env: {},
    classes: { Holder: Holder as never },
    waitUntil: () => {},
  });
  opened.push(() => {
    host.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await host.namespace("Holder").getByName("actor").ready();
  const storage = Holder.last;
  if (!storage) throw new Error("the host built no object");
  // As the actors see it: the shells' `durableObjectStorage` forwards each call unchanged (and is
  // typed against workers-types, which Deno does not check).
  return storage as unknown as ObjectStorage;
});
