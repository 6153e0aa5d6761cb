/**
 * `ctx.waitUntil` for one process: work that goes on after the answer is kept track of, so that
 * a shutdown waits for it (as Workers gives it time after a response) instead of cutting it off.
 */
export function waitUntilTracker() {
  const pending = new Set<Promise<unknown>>();
  return {
    waitUntil(promise: Promise<unknown>): void {
      const tracked = promise.then(
        () => {},
        () => {},
      );
      pending.add(tracked);
      void tracked.then(() => pending.delete(tracked));
    },
    get size() {
      return pending.size;
    },
    /** Resolves once everything handed over so far (and anything it hands over) has settled. */
    async drain(timeoutMs: number): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (pending.size > 0 && Date.now() < deadline) {
        const wait = Math.max(0, deadline - Date.now());
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(pending),
          new Promise((resolve) => {
            timer = setTimeout(resolve, wait);
          }),
        ]);
        clearTimeout(timer);
      }
      return pending.size === 0;
    },
  };
}
