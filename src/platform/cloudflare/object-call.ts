import { StorageUnavailableError } from "../../core/errors";
import type { ActorCalls } from "../../core/objects";
import { withTimeout } from "../../core/timeout";

export { OBJECT_DEADLINES_MS } from "../../core/objects";

/** Members of a Durable Object class that are the runtime's, not calls of the proxy's own. */
type WebSocketMember = "webSocketMessage" | "webSocketClose" | "webSocketError";

/**
 * A Durable Object as its callers see it, as any actor is (`ActorCalls`): each of its public
 * methods, answering what the class's method answers (as a promise), within its deadline.
 */
export type ObjectHandle<T> = ActorCalls<Omit<T, WebSocketMember>>;

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
