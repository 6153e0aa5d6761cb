import type { MiddlewareHandler } from "hono";
import { type HonoEnv, readConfig } from "../core/config";
import { createWavelineClient } from "../waveline/client";
import { fail } from "./errors";

/** Makes the validated configuration available as `c.get("config")`; a broken one answers 503. */
export function withConfig(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const result = readConfig(c.env);
    if (!result.ok) {
      c.get("log").alert("invalid configuration", { problem: result.problem });
      fail(503, `proxy is not configured: ${result.problem}`);
    }
    c.set("config", result.config);
    await next();
  };
}

/** For routes that call Waveline: never call it without a key. */
export function withWaveline(): MiddlewareHandler<HonoEnv> {
  return async (c, next) => {
    const { wavelineApiKey, wavelineApiUrl, upstreamTimeoutMs, maxUpstreamBodyBytes } =
      c.get("config");
    if (!wavelineApiKey) fail(503, "proxy is not configured: WAVELINE_API_KEY is missing");
    c.set(
      "waveline",
      createWavelineClient({
        baseUrl: wavelineApiUrl,
        apiKey: wavelineApiKey,
        timeoutMs: upstreamTimeoutMs,
        maxBodyBytes: maxUpstreamBodyBytes,
        log: c.get("log"),
      }),
    );
    await next();
  };
}
