import { app } from "../../app";

export { CreationLedger } from "./creation-ledger";
export { JobWatcher } from "./job-watcher";
export { TenantRateLimiter } from "./rate-limiter";

export default app satisfies ExportedHandler<Env>;
