import { Hono } from "hono";
import type { HonoEnv } from "../../core/config";
import { describeRoute } from "../openapi/describe";
import { healthBody } from "../openapi/responses";

export const health = new Hono<HonoEnv>();

/** Liveness for load balancers and uptime checks: no upstream call, nothing secret. */
health.get(
  "/health",
  describeRoute({
    operationId: "getHealth",
    summary: "Liveness",
    tag: "service",
    auth: "public",
    responses: { 200: { description: "the Worker runs and is configured", body: healthBody } },
    errors: {},
  }),
  (c) => c.json({ status: "ok" }),
);
