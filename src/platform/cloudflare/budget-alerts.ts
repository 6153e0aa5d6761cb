import { describeError } from "../../core/errors";
import { budgetAlertBody, budgetAlertKey } from "../../core/webhooks/payload";
import { ALERT_COLUMNS, alertOf, type BudgetAlertSink } from "./d1-stores";
import { isolateLog } from "./log";
import { OBJECT_DEADLINES_MS } from "./object-call";
import { outboxCalls } from "./webhook-outbox";

/** Alerts claimed longer ago than this and not yet in their outbox are sent again. */
const RESEND_AFTER_MS = 30_000;
const RESEND_BATCH = 50;

/**
 * Budget alerts go out as `budget.threshold` webhooks through the tenant's outbox (signed and
 * retried like job events; the outbox keeps one delivery per endpoint and alert, however often it
 * is handed one). An alert is marked notified once its outbox has it; one that is not (an outbox
 * that failed) is sent again by `resendBudgetAlerts`.
 */
export function budgetAlertsToOutboxes(env: Env): BudgetAlertSink {
  // A slow outbox leaves the alert to the settler's next run (a write waits for it).
  const outbox = outboxCalls(env.WEBHOOK_OUTBOX, OBJECT_DEADLINES_MS.alert);
  return async (alerts) => {
    for (const alert of alerts) {
      try {
        await outbox(alert.tenantId).enqueue(
          alert.tenantId,
          "budget.threshold",
          budgetAlertKey(alert),
          budgetAlertBody(alert, new Date()),
        );
        await env.DB.prepare(
          "UPDATE budget_alerts SET notified_at = ? WHERE tenant_id = ? AND subject = ? AND month = ? AND percent = ?",
        )
          .bind(
            new Date().toISOString(),
            alert.tenantId,
            alert.subject ?? "",
            alert.month,
            alert.percent,
          )
          .run();
      } catch (err) {
        isolateLog({ ...alert }).warn("budget alert unsent", { error: describeError(err) });
      }
    }
  };
}

/** Sends the alerts claimed a while ago and still not in their outbox (the settler calls it). */
export async function resendBudgetAlerts(env: Env, now = Date.now()): Promise<void> {
  const { results } = await env.DB.prepare(
    `SELECT ${ALERT_COLUMNS} FROM budget_alerts WHERE notified_at IS NULL AND created_at <= ? ORDER BY created_at LIMIT ?`,
  )
    .bind(new Date(now - RESEND_AFTER_MS).toISOString(), RESEND_BATCH)
    .all<Parameters<typeof alertOf>[0]>();
  if (results.length > 0) await budgetAlertsToOutboxes(env)(results.map(alertOf));
}
