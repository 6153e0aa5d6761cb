/** What a webhook says: which event, when, and the job without its result (fetch that with a key). */

export const WEBHOOK_EVENTS = ["job.completed", "job.failed"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export function eventOfStatus(status: string): WebhookEvent | undefined {
  if (status === "COMPLETED") return "job.completed";
  if (status === "FAILED") return "job.failed";
  return undefined;
}

/** The body of every attempt of one delivery; `selfUrl` is the job's URL on the proxy. */
export function webhookBody(
  event: WebhookEvent,
  job: { id: string; urls?: object; result?: unknown },
  selfUrl: string,
  at: Date,
): string {
  const { result: _result, ...data } = job;
  return JSON.stringify({
    type: event,
    timestamp: at.toISOString(),
    data: { ...data, urls: { ...data.urls, get: selfUrl } },
  });
}
