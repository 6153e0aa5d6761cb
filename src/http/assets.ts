import type { Context } from "hono";
import type { Services } from "../core/services";
import type { AppEnv } from "./context";

/**
 * A file of the static pages (`public/`; on Workers, static assets, which keeps the bundle
 * small). The app runs first, so it decides who gets them.
 */
export async function staticAsset(
  services: Services,
  c: Context<AppEnv>,
  path: string,
  headers: Record<string, string>,
): Promise<Response> {
  const asset = await services.page?.(path);
  if (!asset) return c.notFound();
  // Through the context, so that what middleware prepared (the request id) is on it too.
  return c.body(c.req.method === "HEAD" ? null : asset.body, 200, {
    "Content-Type": asset.headers.get("Content-Type") ?? "application/octet-stream",
    ...headers,
  });
}
