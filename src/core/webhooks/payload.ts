/**
 * What a webhook says: which event, when, and its data: the job without its result (fetch that
 * with a key), a page budget's threshold passed, or an endpoint the outbox disabled.
 */

export const JOB_EVENTS = ["job.completed", "job.failed"] as const;
export const WEBHOOK_EVENTS = [...JOB_EVENTS, "budget.threshold", "webhook.disabled"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export type JobEvent = (typeof JOB_EVENTS)[number];

export function eventOfStatus(status: string): JobEvent | undefined {
  if (status === "COMPLETED") return "job.completed";
  if (status === "FAILED") return "job.failed";
  return undefined;
}

/** The body of every attempt of one delivery; `selfUrl` is the job's URL on the proxy. */
export function webhookBody(
  event: JobEvent,
  job: { id: string; urls?: object; result?: unknown },
  selfUrl: string,
  at: Date,
): string {
  const { result: _result, ...data } = job;
  return eventBody(event, at, { ...data, urls: { ...data.urls, get: selfUrl } });
}

function eventBody(type: WebhookEvent, at: Date, data: object): string {
  return JSON.stringify({ type, timestamp: at.toISOString(), data });
}

/** The shares of a monthly page budget whose passing is announced, once each a month. */
export const BUDGET_ALERT_PERCENTS = [80, 100] as const;

/** A budget's threshold passed: the tenant's own (`subject` null) or one end user's. */
export interface BudgetAlert {
  tenantId: string;
  subject: string | null;
  /** `YYYY-MM` (UTC): the month whose pages passed it. */
  month: string;
  percent: (typeof BUDGET_ALERT_PERCENTS)[number];
  pagesPerMonth: number;
  pagesUsed: number;
}

/** What a budget alert is to the outbox (one delivery per endpoint and key), and its body. */
export function budgetAlertKey(alert: BudgetAlert): string {
  return `budget:${alert.month}:${alert.percent}:${alert.subject ?? ""}`;
}

export function budgetAlertBody(alert: BudgetAlert, at: Date): string {
  return eventBody("budget.threshold", at, {
    scope: alert.subject === null ? "tenant" : "end_user",
    ...(alert.subject === null ? {} : { sub: alert.subject }),
    percent: alert.percent,
    month: alert.month,
    pagesPerMonth: alert.pagesPerMonth,
    pagesUsed: alert.pagesUsed,
  });
}

/** An endpoint the outbox stopped sending to, told to the tenant's other endpoints. */
export function endpointDisabledBody(
  endpoint: { id: string; url: string },
  reason: string,
  at: Date,
): string {
  return eventBody("webhook.disabled", at, { id: endpoint.id, url: endpoint.url, reason });
}
