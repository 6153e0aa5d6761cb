import { app } from "./app";

export { TenantRateLimiter } from "./ratelimit/durable-object";

export default app satisfies ExportedHandler<Env>;
