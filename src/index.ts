import { app } from "./app";

export { CreationLedger } from "./creation/ledger";
export { TenantRateLimiter } from "./ratelimit/durable-object";

export default app satisfies ExportedHandler<Env>;
