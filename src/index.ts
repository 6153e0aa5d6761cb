import { app } from "./app";

export { CreationLedger } from "./creation/ledger";
export { TenantRateLimiter } from "./ratelimit/durable-object";
export { JobWatcher } from "./watching/watcher";

export default app satisfies ExportedHandler<Env>;
