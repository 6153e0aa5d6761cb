import type { JobWatchers } from "../../core/watching/events";
import { objectCalls } from "./object-call";

/** The watchers as the core sees them: one object per job id. */
export function durableJobWatchers(
  namespace: NonNullable<Env["JOB_WATCHER"]>,
  deadlineMs: number,
): JobWatchers {
  const of = objectCalls(namespace, "job watcher", deadlineMs);
  return {
    read: (jobId, maxAgeMs) => of(jobId).read(jobId, maxAgeMs),
    async subscribe(jobId, self) {
      const target = new URL("https://job-watcher/events");
      target.searchParams.set("job", jobId);
      target.searchParams.set("self", self);
      const stream = await of(jobId).fetch(new Request(target));
      if (!stream.body) throw new Error("the watcher sent no stream");
      return stream.body;
    },
  };
}
