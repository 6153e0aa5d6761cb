/**
 * Checks a job-creation body without building it: one pass over the bytes, memory proportional to
 * the nesting depth. `JSON.parse` would build every value first, and a 10 MiB body of `[{},{},…]`
 * is millions of objects: hundreds of MB of heap in an isolate that serves every tenant.
 */
export type CreationBodyCheck = { ok: true; fileName: string } | { ok: false; problem: string };

/** A fileName longer than this is not kept for listings (the body still passes through). */
const MAX_FILE_NAME_BYTES = 4096;
/** Top-level keys longer than this cannot be `fileName`, however they are escaped. */
const MAX_DECODED_KEY_BYTES = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const NOT_JSON = "request body must be JSON";

/** Whether `bytes` is one JSON object nesting at most `maxDepth` levels; its top-level `fileName`. */
export function checkCreationBody(bytes: Uint8Array, maxDepth: number): CreationBodyCheck {
  const decoder = new TextDecoder();
  // Containers still open, innermost last: true for an object. Never longer than maxDepth.
  const open: boolean[] = [];
  let i = skipSpace(bytes, 0);
  const topIsObject = bytes[i] === OPEN_OBJECT;
  let fileName = "";
  let topLevelKey: string | undefined;

  // After a value: close containers or expect the next member; `expectValue` at value positions.
  let expectValue = true;
  for (;;) {
    i = skipSpace(bytes, i);
    if (i >= bytes.length) return { ok: false, problem: NOT_JSON };
    const byte = bytes[i] as number;
    if (expectValue) {
      if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        if (open.length >= maxDepth) {
          return { ok: false, problem: `request body nests deeper than ${maxDepth} levels` };
        }
        const isObject = byte === OPEN_OBJECT;
        if (open.length === 1 && topLevelKey === "fileName") fileName = "";
        open.push(isObject);
        i = skipSpace(bytes, i + 1);
        if (bytes[i] === (isObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          open.pop();
          i++;
          expectValue = false;
          if (open.length === 0) break;
          continue;
        }
        if (isObject) {
          const key = readKey(bytes, i, open.length === 1, decoder);
          if (!key) return { ok: false, problem: NOT_JSON };
          i = key.end;
          if (open.length === 1) topLevelKey = key.text;
        }
        continue;
      }
      let end: number;
      if (byte === QUOTE) {
        end = skipString(bytes, i);
        if (end < 0) return { ok: false, problem: NOT_JSON };
        if (open.length === 1 && topLevelKey === "fileName") {
          fileName =
            end - i <= MAX_FILE_NAME_BYTES ? (decodeString(bytes, i, end, decoder) ?? "") : "";
        }
      } else {
        end = skipLiteral(bytes, i);
        if (end < 0) return { ok: false, problem: NOT_JSON };
        if (open.length === 1 && topLevelKey === "fileName") fileName = "";
      }
      i = end;
      expectValue = false;
      if (open.length === 0) break;
      continue;
    }
    const inObject = open[open.length - 1] as boolean;
    if (byte === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
      open.pop();
      i++;
      if (open.length === 0) break;
      continue;
    }
    if (byte !== COMMA) return { ok: false, problem: NOT_JSON };
    i = skipSpace(bytes, i + 1);
    if (inObject) {
      const key = readKey(bytes, i, open.length === 1, decoder);
      if (!key) return { ok: false, problem: NOT_JSON };
      i = key.end;
      if (open.length === 1) topLevelKey = key.text;
    }
    expectValue = true;
  }
  if (skipSpace(bytes, i) !== bytes.length) return { ok: false, problem: NOT_JSON };
  if (!topIsObject) return { ok: false, problem: "request body must be a JSON object" };
  return { ok: true, fileName };
}

function skipSpace(bytes: Uint8Array, from: number): number {
  let i = from;
  while (i < bytes.length) {
    const byte = bytes[i];
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) break;
    i++;
  }
  return i;
}

/** A member's key and its colon; the key's text only where it may matter (the top level). */
function readKey(
  bytes: Uint8Array,
  from: number,
  decode: boolean,
  decoder: InstanceType<typeof TextDecoder>,
): { end: number; text: string | undefined } | undefined {
  if (bytes[from] !== QUOTE) return undefined;
  const end = skipString(bytes, from);
  if (end < 0) return undefined;
  const colon = skipSpace(bytes, end);
  if (bytes[colon] !== COLON) return undefined;
  const text =
    decode && end - from <= MAX_DECODED_KEY_BYTES
      ? decodeString(bytes, from, end, decoder)
      : undefined;
  return { end: colon + 1, text };
}

/** The index after the string starting at `from` (a quote), or -1 when it is not valid JSON. */
function skipString(bytes: Uint8Array, from: number): number {
  let i = from + 1;
  while (i < bytes.length) {
    const byte = bytes[i] as number;
    if (byte === QUOTE) return i + 1;
    if (byte < 0x20) return -1;
    if (byte === BACKSLASH) {
      const escaped = bytes[i + 1];
      if (escaped === 0x75) {
        for (let k = i + 2; k < i + 6; k++) if (!isHexDigit(bytes[k])) return -1;
        i += 6;
        continue;
      }
      // " \ / b f n r t
      if (
        escaped !== QUOTE &&
        escaped !== BACKSLASH &&
        escaped !== 0x2f &&
        escaped !== 0x62 &&
        escaped !== 0x66 &&
        escaped !== 0x6e &&
        escaped !== 0x72 &&
        escaped !== 0x74
      ) {
        return -1;
      }
      i += 2;
      continue;
    }
    i++;
  }
  return -1;
}

function isHexDigit(byte: number | undefined): boolean {
  return (
    byte !== undefined &&
    ((byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x46) ||
      (byte >= 0x61 && byte <= 0x66))
  );
}

/** A short string already known to be valid JSON, decoded with its escapes. */
function decodeString(
  bytes: Uint8Array,
  from: number,
  end: number,
  decoder: InstanceType<typeof TextDecoder>,
): string | undefined {
  const value: unknown = JSON.parse(decoder.decode(bytes.subarray(from, end)));
  return typeof value === "string" ? value : undefined;
}

/** A number, `true`, `false` or `null`: the index after it, or -1. */
function skipLiteral(bytes: Uint8Array, from: number): number {
  for (const word of LITERALS) {
    if (word.every((byte, k) => bytes[from + k] === byte)) return from + word.length;
  }
  return skipNumber(bytes, from);
}

const LITERALS = ["true", "false", "null"].map((word) => [...word].map((c) => c.charCodeAt(0)));

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/** RFC 8259: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?` */
function skipNumber(bytes: Uint8Array, from: number): number {
  let i = from;
  if (bytes[i] === 0x2d) i++;
  if (bytes[i] === 0x30) i++;
  else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++;
  else return -1;
  if (bytes[i] === 0x2e) {
    i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++;
    if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  return i;
}
