import { timingSafeEqual } from "node:crypto";

type Bytes = ArrayBuffer | ArrayBufferView;

const view = (bytes: Bytes) =>
  bytes instanceof ArrayBuffer
    ? new Uint8Array(bytes)
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Workers' non-standard global the proxy calls, on Deno: `crypto.subtle.timingSafeEqual`
 * (constant time, refusing inputs of different lengths, as on Workers). There is no
 * `caches.default`: Deno has no cache shared by a location's isolates, so the proxy runs without
 * that tier (its services skip it where `caches.default` is missing).
 */
export function installWorkersGlobals(): void {
  const subtle = crypto.subtle as SubtleCrypto & {
    timingSafeEqual?: (a: Bytes, b: Bytes) => boolean;
  };
  if (subtle.timingSafeEqual) return;
  Object.defineProperty(subtle, "timingSafeEqual", {
    value(a: Bytes, b: Bytes): boolean {
      const left = view(a);
      const right = view(b);
      if (left.byteLength !== right.byteLength) {
        throw new TypeError("Input buffers must have the same byte length");
      }
      return timingSafeEqual(left, right);
    },
  });
}
