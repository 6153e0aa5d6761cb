import type { ObjectSql } from "../../src/core/objects";
import type { Fresh, Harness } from "./harness";

/** An actor's own SQLite database (`ObjectSql`) as the ledger and the webhook outbox use it. */
export function objectSqlConformance({ test, assert }: Harness, fresh: Fresh<ObjectSql>) {
  const schema = (sql: ObjectSql) =>
    sql.exec(
      "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, job TEXT NOT NULL, at INTEGER, body BLOB, UNIQUE (job));" +
        "CREATE INDEX IF NOT EXISTS deliveries_at ON deliveries (at)",
    );

  test("ObjectSql: a schema of several statements, then rows read back as plain objects", async () => {
    const sql = await fresh();
    schema(sql);
    sql.exec("INSERT INTO deliveries (id, job, at) VALUES (?, ?, ?)", "d1", "job-1", 5);
    sql.exec("INSERT INTO deliveries (id, job, at) VALUES (?, ?, ?)", "d2", "job-2", null);
    const rows = sql.exec("SELECT id, job, at FROM deliveries ORDER BY id").toArray();
    assert.deepEqual(rows, [
      { id: "d1", job: "job-1", at: 5 },
      { id: "d2", job: "job-2", at: null },
    ]);
    assert.equal(Object.getPrototypeOf(rows[0]), Object.prototype);
  });

  test("ObjectSql: one() answers the only row and throws for none or several", async () => {
    const sql = await fresh();
    schema(sql);
    assert.equal(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM deliveries").one().n, 0);
    await assert.rejects(async () => sql.exec("SELECT id FROM deliveries").one());
    sql.exec("INSERT INTO deliveries (id, job) VALUES ('a', '1'), ('b', '2')");
    await assert.rejects(async () => sql.exec("SELECT id FROM deliveries").one());
  });

  // Only zero or not: workerd counts index entries too (4 for an insert here), Deno's host does not.
  test("ObjectSql: rowsWritten is above zero when a row changed and zero when none did", async () => {
    const sql = await fresh();
    schema(sql);
    const insert = (id: string) =>
      sql.exec("INSERT OR IGNORE INTO deliveries (id, job, at) VALUES (?, 'job-1', 1)", id)
        .rowsWritten;
    assert.ok(insert("d1") > 0);
    assert.equal(insert("d2"), 0);
    assert.ok(sql.exec("UPDATE deliveries SET at = 2 WHERE id = 'd1'").rowsWritten > 0);
    assert.equal(sql.exec("UPDATE deliveries SET at = 3 WHERE id = 'none'").rowsWritten, 0);
    assert.equal(sql.exec("SELECT * FROM deliveries").rowsWritten, 0);
  });

  test("ObjectSql: a blob binds from an ArrayBuffer and reads back as one", async () => {
    const sql = await fresh();
    schema(sql);
    const body = new Uint8Array([0, 1, 254, 255]).buffer;
    sql.exec("INSERT INTO deliveries (id, job, body) VALUES ('b', 'j', ?)", body);
    const read = sql.exec<{ body: ArrayBuffer }>("SELECT body FROM deliveries").one().body;
    assert.ok(read instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(read)], [0, 1, 254, 255]);
  });
}
