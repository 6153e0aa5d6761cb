import type { ObjectStorage } from "../../src/core/objects";
import type { Fresh, Harness } from "./harness";

/**
 * An actor's storage (`ObjectStorage`) as the limiter, watcher and settler rely on it: values
 * cloned, writes all or none, prefix listing in key order, one alarm.
 */
export function objectStorageConformance({ test, assert }: Harness, fresh: Fresh<ObjectStorage>) {
  // Far enough ahead that no alarm fires while a case runs.
  const later = () => Date.now() + 3_600_000;

  test("ObjectStorage: a key reads what was last put, and nothing before", async () => {
    const storage = await fresh();
    assert.equal(await storage.get("bucket"), undefined);
    await storage.put({ bucket: { tokens: 3 } });
    await storage.put({ bucket: { tokens: 2 } });
    assert.deepEqual(await storage.get("bucket"), { tokens: 2 });
  });

  test("ObjectStorage: values are copies, neither the one put nor the one read is shared", async () => {
    const storage = await fresh();
    const put = { tokens: 3, at: [1] };
    await storage.put({ bucket: put });
    put.tokens = 0;
    put.at.push(2);
    const read = await storage.get<typeof put>("bucket");
    assert.deepEqual(read, { tokens: 3, at: [1] });
    read?.at.push(3);
    assert.deepEqual(await storage.get("bucket"), { tokens: 3, at: [1] });
    const listed = await storage.list<typeof put>({ prefix: "" });
    listed.get("bucket")?.at.push(4);
    assert.deepEqual(await storage.get("bucket"), { tokens: 3, at: [1] });
  });

  test("ObjectStorage: structured values keep their type (Map, Date, nested objects)", async () => {
    const storage = await fresh();
    const value = { seen: new Map([["sub", 2]]), at: new Date(5), nested: { list: [null, "x"] } };
    await storage.put({ value });
    const read = await storage.get<typeof value>("value");
    assert.ok(read?.seen instanceof Map);
    assert.ok(read?.at instanceof Date);
    assert.deepEqual(read, value);
  });

  test("ObjectStorage: a put of several keys is all or nothing", async () => {
    const storage = await fresh();
    await storage.put({ kept: 1 });
    await assert.rejects(async () => storage.put({ first: 1, kept: 2, unstorable: () => {} }));
    assert.equal(await storage.get("first"), undefined);
    assert.equal(await storage.get("kept"), 1);
  });

  test("ObjectStorage: delete removes the keys named and no other; a missing key is no error", async () => {
    const storage = await fresh();
    await storage.put({ a: 1, b: 2, c: 3 });
    await storage.delete(["a", "c", "never"]);
    await storage.delete([]);
    assert.deepEqual([...(await storage.list({ prefix: "" }))], [["b", 2]]);
  });

  test("ObjectStorage: list answers the keys under a prefix, in key order", async () => {
    const storage = await fresh();
    await storage.put({ "share/b": 2, "miss/x": 0, "share/a": 1, share: 9, "share/a/1": 3 });
    assert.deepEqual(
      [...(await storage.list({ prefix: "share/" }))],
      [
        ["share/a", 1],
        ["share/a/1", 3],
        ["share/b", 2],
      ],
    );
    assert.equal((await storage.list({ prefix: "none/" })).size, 0);
  });

  test("ObjectStorage: deleteAll leaves no key", async () => {
    const storage = await fresh();
    await storage.put({ a: 1, "share/b": 2 });
    await storage.deleteAll();
    assert.equal((await storage.list({ prefix: "" })).size, 0);
    assert.equal(await storage.get("a"), undefined);
    await storage.put({ a: 3 });
    assert.equal(await storage.get("a"), 3);
  });

  test("ObjectStorage: one alarm, which a later set moves and delete clears", async () => {
    const storage = await fresh();
    assert.equal(await storage.getAlarm(), null);
    const first = later();
    await storage.setAlarm(first);
    assert.equal(await storage.getAlarm(), first);
    await storage.setAlarm(first + 60_000);
    assert.equal(await storage.getAlarm(), first + 60_000);
    await storage.deleteAlarm();
    assert.equal(await storage.getAlarm(), null);
    await storage.deleteAlarm();
  });
}
