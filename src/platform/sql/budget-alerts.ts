import { describeError } from "../../core/errors";
import type { Logger } from "../../core/log";
import type { ActorCalls } from "../../core/objects";
import type { WebhookOutboxActor } from "../../core/webhooks/outbox-actor";
import { budgetAlertBody, budgetAlertKey } from "../../core/webhooks/payload";
import type { SqlDatabase } from "./database";
import { ALERT_COLUMNS, alertOf, type BudgetAlertSink } from "./stores";

/** Alerts claimed longer ago than this and not yet in their outbox are sent again. */
const RESEND_AFTER_MS = 30_000;
const RESEND_BATCH = 50;

/** A tenant's outbox as an alert needs it (each call bounded by the runtime). */
export type AlertOutboxes = (tenantId: string) => Pick<ActorCalls<WebhookOutboxActor>, "enqueue">;

/**
 * Budget alerts go out as `budget.threshold` webhooks through the tenant's outbox (signed and
 * retried like job events; the outbox keeps one delivery per endpoint and alert, however often it
 * is handed one). An alert is marked notified once its outbox has it; one that is not (an outbox
 * that failed) is sent again by `resendBudgetAlerts`.
 */
export function budgetAlertsTo(
  db: SqlDatabase,
  outbox: AlertOutboxes,
  log: (fields: Record<string, unknown>) => Logger,
): BudgetAlertSink {
  return async (alerts) => {
    for (const alert of alerts) {
      try {
        await outbox(alert.tenantId).enqueue(
          alert.tenantId,
          "budget.threshold",
          budgetAlertKey(alert),
          budgetAlertBody(alert, new Date()),
        );
        await db
          .prepare(
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
        log({ ...alert }).warn("budget alert unsent", { error: describeError(err) });
      }
    }
  };
}

/** Sends the alerts claimed a while ago and still not in their outbox (the settler calls it). */
export async function resendBudgetAlerts(
  db: SqlDatabase,
  send: BudgetAlertSink,
  now = Date.now(),
): Promise<void> {
  const { results } = await db
    .prepare(
      `SELECT ${ALERT_COLUMNS} FROM budget_alerts WHERE notified_at IS NULL AND created_at <= ? ORDER BY created_at LIMIT ?`,
    )
    .bind(new Date(now - RESEND_AFTER_MS).toISOString(), RESEND_BATCH)
    .all<Parameters<typeof alertOf>[0]>();
  if (results.length > 0) await send(results.map(alertOf));
}
