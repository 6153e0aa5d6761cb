import { timingSafeEqual } from "node:crypto";

type Bytes = ArrayBuffer | ArrayBufferView;

const view = (bytes: Bytes) =>
  bytes instanceof ArrayBuffer
    ? new Uint8Array(bytes)
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * `caches.default` as Workers has it on a `*.workers.dev` address: there, and it keeps nothing.
 * Deno has no cache shared by a location's isolates for it to stand for (this process's memory
 * tier is the nearest thing). Without it, src/http/job-cache.ts fails every read, write and purge
 * of that tier on Deno; this goes once that middleware skips the tier where `caches.default` is
 * undefined (asked for in issue 14's report).
 */
const keepsNothing = {
  match: async () => undefined,
  put: async () => {},
  delete: async () => false,
};

/**
 * Workers' non-standard globals the proxy calls, on Deno: `crypto.subtle.timingSafeEqual`
 * (constant time, refusing inputs of different lengths, as on Workers) and `caches.default`.
 */
export function installWorkersGlobals(): void {
  const cacheStorage = caches as CacheStorage & { default?: unknown };
  if (!cacheStorage.default) {
    Object.defineProperty(cacheStorage, "default", { value: keepsNothing });
  }
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
