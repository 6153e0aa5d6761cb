/**
 * Verifies a webhook from the Waveline edge proxy in the receiving backend, per the Standard
 * Webhooks specification (any Standard Webhooks library does the same). A separate entry point,
 * `@waveline-proxy/client/webhooks`, so browser bundles of the client never carry it. WebCrypto only.
 *
 *   const event = await verifyWebhook(process.env.WEBHOOK_SECRET, request.headers, await request.text());
 */
import type { JobSummary } from "./index";

/** What an endpoint receives; `type` tells which (an endpoint gets the `events` it asked for). */
export type WebhookEvent = JobWebhookEvent | BudgetThresholdEvent | WebhookDisabledEvent;

export interface JobWebhookEvent {
  type: "job.completed" | "job.failed";
  /** When the job's outcome was seen (ISO 8601). */
  timestamp: string;
  /** The job without its result (fetch that from `data.urls.get` with your API key). */
  data: JobSummary;
}

/** The tenant's or an end user's monthly page budget passed 80 % or 100 %: once each a month. */
export interface BudgetThresholdEvent {
  type: "budget.threshold";
  timestamp: string;
  data: {
    scope: "tenant" | "end_user";
    /** The end user, for `end_user` budgets. */
    sub?: string;
    percent: 80 | 100;
    /** `YYYY-MM` (UTC). */
    month: string;
    pagesPerMonth: number;
    pagesUsed: number;
  };
}

/** Another endpoint of the tenant was disabled (its receiver answered 410 Gone). */
export interface WebhookDisabledEvent {
  type: "webhook.disabled";
  timestamp: string;
  /** Disabled at `timestamp`. */
  data: { id: string; url: string; reason: string };
}

export class WebhookVerificationError extends Error {
  override name = "WebhookVerificationError";
}

/** The spec's default: a delivery older or newer than this is refused (a replay, or a bad clock). */
const TOLERANCE_S = 5 * 60;

const encoder = new TextEncoder();

const fromBase64 = (text: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

/**
 * The event, when `body` (the raw text, before any JSON parsing) carries a valid signature of
 * `secret` (`whsec_…`) and a fresh timestamp; else throws `WebhookVerificationError`. Signatures
 * are checked with `crypto.subtle.verify`, in constant time.
 */
export async function verifyWebhook(
  secret: string,
  headers: Headers | Record<string, string | string[] | undefined>,
  body: string,
  options: { toleranceS?: number; now?: number } = {},
): Promise<WebhookEvent> {
  const header = (name: string) => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = header("webhook-id");
  const timestamp = header("webhook-timestamp");
  const signatures = header("webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      "missing webhook-id, webhook-timestamp or webhook-signature",
    );
  }
  const nowS = Math.floor((options.now ?? Date.now()) / 1000);
  if (
    !/^\d+$/.test(timestamp) ||
    Math.abs(nowS - Number(timestamp)) > (options.toleranceS ?? TOLERANCE_S)
  ) {
    throw new WebhookVerificationError("webhook-timestamp is too old, too new or not a number");
  }
  const key = await crypto.subtle
    .importKey(
      "raw",
      fromBase64(secret.replace(/^whsec_/, "")),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    )
    .catch(() => {
      throw new WebhookVerificationError("the secret is not a whsec_ secret");
    });
  const signed = encoder.encode(`${id}.${timestamp}.${body}`);
  for (const entry of signatures.split(" ")) {
    const [version, signature] = entry.split(",");
    if (version !== "v1" || !signature) continue;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = fromBase64(signature);
    } catch {
      continue;
    }
    if (await crypto.subtle.verify("HMAC", key, bytes, signed)) {
      return JSON.parse(body) as WebhookEvent;
    }
  }
  throw new WebhookVerificationError("no signature matches the secret");
}
