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
  const response = new Response(c.req.method === "HEAD" ? null : asset.body, {
    status: 200,
    headers: { "Content-Type": asset.headers.get("Content-Type") ?? "application/octet-stream" },
  });
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}
