import * as z from "zod/mini";
import { BUDGET_ALERT_PERCENTS, JOB_EVENTS } from "../../core/webhooks/payload";
import { jobSummary, namedResponses } from "./responses";

/**
 * What an endpoint receives, the bodies of the document's `webhooks`: named components like the
 * answers, imported by the document alone (no route answers with them, so the Worker never
 * carries them).
 */

const timestamp = z.string().check(z.describe("when the event happened (ISO 8601)"));

export const jobEvent = z.object({
  type: z.enum(JOB_EVENTS),
  timestamp,
  data: z.extend(jobSummary, {
    urls: z.looseObject({
      get: z.string().check(z.describe("the job on the proxy: read its result there with a key")),
    }),
  }),
});

export const budgetThresholdEvent = z.object({
  type: z.literal("budget.threshold"),
  timestamp,
  data: z.object({
    scope: z
      .enum(["tenant", "end_user"])
      .check(z.describe("the tenant's own budget, or one end user's (`sub`)")),
    sub: z.optional(z.string().check(z.describe("the end user (`end_user` only)"))),
    percent: z
      .literal(BUDGET_ALERT_PERCENTS)
      .check(z.describe("the share of the budget the month's pages reached")),
    month: z.string().check(z.describe("`YYYY-MM` (UTC): the month of the pages")),
    pagesPerMonth: z.number().check(z.describe("the budget")),
    pagesUsed: z.number().check(z.describe("the month's pages when the threshold was passed")),
  }),
});

export const webhookDisabledEvent = z.object({
  type: z.literal("webhook.disabled"),
  timestamp,
  data: z.object({
    id: z.string().check(z.describe("the endpoint disabled")),
    url: z.string(),
    reason: z.string().check(z.describe("why: the receiver answered 410 Gone")),
  }),
});

for (const [id, schema] of Object.entries({
  JobWebhookEvent: jobEvent,
  BudgetThresholdEvent: budgetThresholdEvent,
  WebhookDisabledEvent: webhookDisabledEvent,
})) {
  namedResponses.add(schema, { id });
}
