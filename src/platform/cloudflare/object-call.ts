import { StorageUnavailableError } from "../../core/errors";
import { withTimeout } from "../../core/timeout";

export { OBJECT_DEADLINES_MS } from "../../core/objects";

/** Members of a Durable Object class that are the runtime's, not calls of the proxy's own. */
type RuntimeMember = "alarm" | "webSocketMessage" | "webSocketClose" | "webSocketError";

/**
 * A Durable Object as its callers see it: each of its public methods, answering what the class's
 * method answers (as a promise), within the object's deadline.
 */
export type ObjectHandle<T> = {
  [K in keyof T as K extends RuntimeMember
    ? never
    : T[K] extends (...args: never[]) => unknown
      ? K
      : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

type AnyStub = Record<string | symbol, (...args: unknown[]) => Promise<unknown>>;

/**
 * The one way to call a Durable Object: `objectCalls(namespace, "ledger", deadlineMs)(name)` is
 * the object named `name`, each call of which fails with `StorageUnavailableError` (naming the
 * object, the method and why) when the object throws, cannot be reached or does not answer
 * within `deadlineMs`. Callers then fail closed as they do for D1.
 */
export function objectCalls<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  what: string,
  deadlineMs: number,
): (name: string) => ObjectHandle<T> {
  return (name) => {
    const stub = namespace.get(namespace.idFromName(name)) as unknown as AnyStub;
    return new Proxy({} as ObjectHandle<T>, {
      get(_, method) {
        // Not a promise itself: a handle returned from an async function is not awaited into.
        if (method === "then" || typeof method === "symbol") return undefined;
        return async (...args: unknown[]) => {
          try {
            return await withTimeout(Promise.resolve(stub[method]?.(...args)), deadlineMs);
          } catch (err) {
            const why = err instanceof Error ? err.message : String(err);
            throw new StorageUnavailableError(`${what}.${method}: ${why}`, { cause: err });
          }
        };
      },
    });
  };
}
