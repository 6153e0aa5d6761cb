import { app } from "./app";

export { CreationLedger } from "./creation/ledger";
export { TenantRateLimiter } from "./ratelimit/durable-object";
export { JobWatcher } from "./watching/watcher";
export { WebhookOutbox } from "./webhooks/outbox";

export default app satisfies ExportedHandler<Env>;
