import type { Context } from "hono";
import type { HonoEnv } from "../core/config";

/**
 * A file of the Worker's static assets (`[assets]` in wrangler.toml): pages live there, not in
 * the script, which keeps the bundle small. The Worker runs first, so it decides who gets them.
 */
export async function staticAsset(
  c: Context<HonoEnv>,
  path: string,
  headers: Record<string, string>,
): Promise<Response> {
  const asset = await c.env.ASSETS.fetch(new URL(path, c.req.url));
  if (!asset.ok) return c.notFound();
  const response = new Response(c.req.method === "HEAD" ? null : asset.body, {
    status: 200,
    headers: { "Content-Type": asset.headers.get("Content-Type") ?? "application/octet-stream" },
  });
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}
