/**
 * Real bindings made to fail on demand: each wrapper delegates to the binding the pool gives the
 * test and throws or stalls only where asked, so everything else still runs against the real thing.
 */

export type Fault = "throw" | "hang";

const never = () => new Promise<never>(() => {});

function failing(fault: Fault, what: string): Promise<never> {
  return fault === "hang" ? never() : Promise.reject(new Error(`D1_ERROR: ${what} (injected)`));
}

/** D1 whose statements matching `when(sql)` throw or never answer; all others run for real. */
export function faultyD1(
  real: D1Database,
  fault: Fault,
  when: (sql: string) => boolean,
): D1Database {
  const wrapStatement = (statement: D1PreparedStatement, sql: string): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, property) {
        const member = Reflect.get(target, property, target) as unknown;
        if (typeof member !== "function") return member;
        if (property === "bind") {
          return (...values: unknown[]) => wrapStatement(target.bind(...values), sql);
        }
        if (["run", "all", "first", "raw"].includes(String(property)) && when(sql)) {
          return () => failing(fault, sql);
        }
        return member.bind(target);
      },
    });
  const statements = new WeakMap<D1PreparedStatement, string>();
  return new Proxy(real, {
    get(target, property) {
      if (property === "prepare") {
        return (sql: string) => {
          const statement = wrapStatement(target.prepare(sql), sql);
          statements.set(statement, sql);
          return statement;
        };
      }
      if (property === "batch") {
        return (batch: D1PreparedStatement[]) =>
          batch.some((statement) => when(statements.get(statement) ?? ""))
            ? failing(fault, "batch")
            : target.batch(batch);
      }
      const member = Reflect.get(target, property, target) as unknown;
      return typeof member === "function" ? member.bind(target) : member;
    },
  });
}

/** A Durable Object namespace whose stubs fail the named RPC methods; others reach the object. */
export function faultyNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  real: DurableObjectNamespace<T>,
  fault: Fault,
  methods: readonly string[],
): DurableObjectNamespace<T> {
  return new Proxy(real, {
    get(target, property) {
      const member = Reflect.get(target, property, target) as unknown;
      if (property !== "get" || typeof member !== "function") {
        return typeof member === "function" ? member.bind(target) : member;
      }
      return (...args: Parameters<typeof target.get>) => {
        const stub = target.get(...args);
        return new Proxy(stub, {
          get(stubTarget, name) {
            if (methods.includes(String(name))) return () => failing(fault, String(name));
            const value = Reflect.get(stubTarget, name, stubTarget) as unknown;
            // Every property of a stub is a remote method, `bind` included: call through, never bind.
            return typeof value === "function"
              ? (...values: unknown[]) =>
                  (stubTarget as unknown as Record<string, (...v: unknown[]) => unknown>)[
                    String(name)
                  ]?.(...values)
              : value;
          },
        });
      };
    },
  });
}
