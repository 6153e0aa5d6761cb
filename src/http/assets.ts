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
  const fileHeaders = {
    "Content-Type": asset.headers.get("Content-Type") ?? "application/octet-stream",
    ...headers,
  };
  if (c.req.method === "HEAD" || !asset.body) return c.body(null, 200, fileHeaders);
  return c.body(asset.body, 200, fileHeaders);
}
