import type { TenantCursor } from "./store";

/** `GET /admin/tenants` answers pages: a console or CLI never reads every tenant in one go. */
export const TENANT_PAGE = { default: 50, max: 200 };

export function encodeTenantCursor(cursor: TenantCursor): string {
  return btoa(`${cursor.createdAt}|${cursor.id}`).replace(/=+$/, "");
}

/** Null for text this route did not give (the id is the part after the first `|`). */
export function decodeTenantCursor(text: string): TenantCursor | null {
  try {
    const decoded = atob(text);
    const split = decoded.indexOf("|");
    const createdAt = decoded.slice(0, split);
    const id = decoded.slice(split + 1);
    if (split < 1 || Number.isNaN(Date.parse(createdAt)) || id === "" || id.length > 64) {
      return null;
    }
    return { createdAt, id };
  } catch {
    return null;
  }
}
