import { Hono } from "hono";
import type { HonoEnv } from "../env";

export const health = new Hono<HonoEnv>();

/** Liveness for load balancers and uptime checks: no upstream call, nothing secret. */
health.get("/health", (c) => c.json({ status: "ok" }));
