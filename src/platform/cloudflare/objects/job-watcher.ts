import { DurableObject } from "cloudflare:workers";
import { jobWatcher } from "../../../core/watching/watcher";
import { durableObjectStorage } from "../object-storage";
import { jobWatcherServices } from "../services";

/**
 * One per running job (named by job id): a shell over the core's `jobWatcher`
 * (`core/watching/watcher.ts`), kept in this object's storage, its services built once per object
 * by the same factory as the Worker's.
 */
export class JobWatcher extends DurableObject<Env> {
  private readonly watcher = jobWatcher({
    storage: durableObjectStorage(this.ctx.storage),
    services: jobWatcherServices(this.env),
  });

  read(jobId: string, maxAgeMs: number) {
    return this.watcher.read(jobId, maxAgeMs);
  }

  watch(jobId: string, self: string): Promise<void> {
    return this.watcher.watch(jobId, self);
  }

  /** `GET …/events?job=…&self=…`: a stream of this job for one subscriber. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const stream = this.watcher.subscribe(
      url.searchParams.get("job") ?? undefined,
      url.searchParams.get("self") ?? "",
    );
    return new Response(stream, { headers: { "Content-Type": "text/event-stream" } });
  }

  override alarm(): Promise<void> {
    return this.watcher.alarm();
  }
}
