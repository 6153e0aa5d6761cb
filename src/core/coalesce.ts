const inFlight = new Map<string, { promise: Promise<unknown>; startedAt: number }>();

/**
 * Runs `work` once for concurrent callers with the same key in this isolate: a storm of polls on
 * one job costs one lookup. Errors are shared too; nothing is kept once it settles.
 *
 * Workers cancels a promise whose creating request went away (a client that hung up), so a
 * waiter never waits past `maxWaitMs`: then it does the work itself, and so does any newcomer.
 */
export function coalesce<T>(key: string, work: () => Promise<T>, maxWaitMs: number): Promise<T> {
  const running = inFlight.get(key);
  const waited = running ? Date.now() - running.startedAt : 0;
  if (running && waited < maxWaitMs) {
    return raceWithFallback(running.promise as Promise<T>, maxWaitMs - waited, work);
  }
  const promise = work().finally(() => {
    if (inFlight.get(key)?.promise === promise) inFlight.delete(key);
  });
  inFlight.set(key, { promise, startedAt: Date.now() });
  return promise;
}

function raceWithFallback<T>(shared: Promise<T>, ms: number, work: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fallback = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => work().then(resolve, reject), ms);
  });
  return Promise.race([shared, fallback]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
