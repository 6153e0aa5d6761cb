import { Hono } from "hono";
import type { AppEnv } from "../context";
import { describeRoute } from "../openapi/describe";
import { healthBody } from "../openapi/responses";

export function healthRoutes() {
  const health = new Hono<AppEnv>();

  /** Liveness for load balancers and uptime checks: no upstream call, nothing secret. */
  health.get(
    "/health",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getHealth",
        summary: "Liveness",
        description:
          "Answers while the proxy runs and its configuration is valid: it asks neither storage nor Waveline.",
        tag: "service",
        auth: "public",
        responses: { 200: { description: "the Worker runs and is configured", body: healthBody } },
        errors: {},
      },
    ),
    (c) => c.json({ status: "ok" }),
  );
  return health;
}
