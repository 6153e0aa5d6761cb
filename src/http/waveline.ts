import { createMiddleware } from "hono/factory";
import type { Services } from "../core/services";
import type { WavelineClient } from "../waveline/client";
import type { AppEnv } from "./context";
import { fail } from "./errors";

export type WithWaveline = AppEnv & { Variables: { waveline: WavelineClient } };

/** For routes that call Waveline: never call it without a key. */
export function withWaveline(services: Services) {
  return createMiddleware<WithWaveline>(async (c, next) => {
    if (!services.waveline)
      fail("not_configured", "proxy is not configured: WAVELINE_API_KEY is missing");
    c.set("waveline", services.waveline);
    await next();
  });
}
