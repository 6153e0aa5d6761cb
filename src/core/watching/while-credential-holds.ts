import type { ErrorCode } from "../errors";

/** Why a credential no longer holds: what the stream's last event says. */
export interface Lapse {
  code: ErrorCode;
  error: string;
}

/**
 * How often an open stream asks whether its credential still holds: it ends within this of the
 * moment a request with the same credential would be refused.
 */
export const CREDENTIAL_RECHECK_MS = 1_000;

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/**
 * `source` (a Server-Sent Events stream) for as long as `lapse()` answers null. Once it names a
 * reason the stream ends with `event: error` and `{ "error", "code" }`, and `source` is cancelled:
 * a stream lives no longer than the credential that opened it. A check that fails ends it too.
 * Only whole events are passed on, so the error never lands inside one. `done` settles when the
 * stream has ended, however it did.
 */
export function whileCredentialHolds(
  source: ReadableStream<Uint8Array>,
  lapse: () => Promise<Lapse | null>,
): { readable: ReadableStream<Uint8Array>; done: Promise<void> } {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const reader = source.getReader();
  let lapsed: Lapse | undefined;
  let onLapse: (end: { done: true; value: undefined }) => void = () => {};
  const lapses = new Promise<{ done: true; value: undefined }>((resolve) => {
    onLapse = resolve;
  });
  let checking = false;
  const timer = setInterval(async () => {
    if (checking || lapsed !== undefined) return;
    checking = true;
    const reason = await lapse().catch(
      (): Lapse => ({ code: "storage_unavailable", error: "the credential could not be checked" }),
    );
    checking = false;
    if (reason === null || lapsed !== undefined) return;
    lapsed = reason;
    onLapse({ done: true, value: undefined });
  }, CREDENTIAL_RECHECK_MS);

  // A reader that hung up ends the source at once, not at the next event.
  writer.closed.catch(() => reader.cancel().catch(() => {}));

  const done = (async () => {
    // Bytes after the last complete event, held back until the event's end arrives.
    let partial: Uint8Array[] = [];
    let lastByte = 0;
    try {
      for (;;) {
        const { done: ended, value } = await Promise.race([reader.read(), lapses]);
        if (ended || lapsed !== undefined) break;
        const end = endOfLastEvent(value, lastByte);
        if (value.length > 0) lastByte = value[value.length - 1] as number;
        if (end < 0) {
          partial.push(value);
          continue;
        }
        for (const held of partial) await writer.write(held);
        await writer.write(value.subarray(0, end));
        partial = end < value.length ? [value.subarray(end)] : [];
      }
      if (lapsed === undefined) for (const held of partial) await writer.write(held);
      else {
        void reader.cancel().catch(() => {});
        await writer.write(encoder.encode(errorEvent(lapsed)));
      }
      await writer.close();
    } catch {
      // The reader hung up: nobody is left to tell.
      await reader.cancel().catch(() => {});
    } finally {
      clearInterval(timer);
    }
  })();
  return { readable, done };
}

function errorEvent(reason: Lapse): string {
  return `event: error\ndata: ${JSON.stringify({ error: reason.error, code: reason.code })}\n\n`;
}

/** The index just after the last blank line (`\n\n`) in `chunk`, or -1; `before` ended the last. */
function endOfLastEvent(chunk: Uint8Array, before: number): number {
  for (let i = chunk.length - 1; i >= 0; i--) {
    if (chunk[i] !== NEWLINE) continue;
    const previous = i > 0 ? chunk[i - 1] : before;
    if (previous === NEWLINE) return i + 1;
  }
  return -1;
}
