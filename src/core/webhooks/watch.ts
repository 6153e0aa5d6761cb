import { OUTBOX_TIMEOUT_MS } from "../creation/deadlines";
import { describeError } from "../errors";
import type { RequestScope } from "../log";
import type { Services } from "../services";
import { withTimeout } from "../timeout";

/**
 * If the tenant has webhook endpoints, the job's watcher follows it to the end and its outcome is
 * delivered to whoever owns the job then. A failure loses that job's webhook, never the request
 * that asked (a creation, an operator giving the job away): it is an alert.
 */
export async function watchForWebhooks(
  services: Services,
  tenantId: string,
  jobId: string,
  self: string,
  scope: RequestScope,
): Promise<void> {
  if (!services.webhooks) return;
  const outbox = services.webhooks.of(tenantId);
  const watching = withTimeout(
    Promise.resolve().then(() => outbox.watchJob(jobId, self)),
    OUTBOX_TIMEOUT_MS,
  ).then(
    () => {},
    (err: unknown) =>
      scope.log.alert("job not watched for webhooks", {
        jobId,
        tenantId,
        error: describeError(err),
      }),
  );
  scope.waitUntil(watching);
  await watching;
}
