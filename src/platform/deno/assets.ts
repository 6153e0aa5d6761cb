import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The static pages of a directory (`[assets] directory` in wrangler.toml), as Workers' assets
 * serve them with `html_handling = "none"`: a path is a file or null, never rewritten.
 */
export function directoryPages(root: string): (path: string) => Promise<Response | null> {
  return async (path) => {
    const clean = normalize(decodeURIComponent(new URL(path, "https://assets.local").pathname));
    if (clean.split("/").includes("..")) return null;
    try {
      const file = await Deno.readFile(join(root, clean));
      return new Response(file, {
        headers: { "Content-Type": TYPES[extname(clean)] ?? "application/octet-stream" },
      });
    } catch {
      return null;
    }
  };
}
