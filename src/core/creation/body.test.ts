import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkCreationBody } from "./body";

const encoder = new TextEncoder();
const check = (text: string, maxDepth = 8) => checkCreationBody(encoder.encode(text), maxDepth);

describe("checkCreationBody", () => {
  it("passes one JSON object and finds its top-level fileName, escapes decoded", () => {
    expect(check('{"fileName":"a.pdf","content":"x"}')).toEqual({ ok: true, fileName: "a.pdf" });
    expect(
      check(' {"content": [1, {"fileName": "inner"}], "fileName": "b\\u0062.pdf"} \n'),
    ).toEqual({
      ok: true,
      fileName: "bb.pdf",
    });
    expect(check('{"fileName":42}')).toEqual({ ok: true, fileName: "" });
    expect(check('{"file\\u004eame":"escaped-key.pdf"}')).toEqual({
      ok: true,
      fileName: "escaped-key.pdf",
    });
  });

  it("ignores a fileName that is not at the top level", () => {
    expect(check('{"meta":{"fileName":"nested.pdf"}}')).toEqual({ ok: true, fileName: "" });
  });

  it("refuses a JSON value that is not an object", () => {
    for (const text of ["[]", '"a"', "1", "null", "true"]) {
      expect(check(text), text).toEqual({
        ok: false,
        problem: "request body must be a JSON object",
      });
    }
  });

  it("refuses what is not JSON", () => {
    for (const text of [
      "",
      "{",
      '{"a":1,}',
      '{"a":01}',
      '{"a":1}{"b":2}',
      '{"a":"\\x"}',
      '{"a":"unterminated}',
      '{"a" 1}',
      "{'a':1}",
      '{"a":tru}',
      '{"a":1.}',
      '{"a":"tab\there"}',
    ]) {
      expect(check(text), text).toEqual({ ok: false, problem: "request body must be JSON" });
    }
  });

  it("allows maxDepth levels of nesting, not one more", () => {
    expect(check('{"a":[{"b":1}]}', 3).ok).toBe(true);
    expect(check('{"a":[{"b":[]}]}', 3)).toEqual({
      ok: false,
      problem: "request body nests deeper than 3 levels",
    });
  });

  it("agrees with JSON.parse on any JSON text", () => {
    fc.assert(
      fc.property(fc.json({ depthSize: "small" }), (text) => {
        const value: unknown = JSON.parse(text);
        const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
        const result = checkCreationBody(encoder.encode(text), 1_000);
        expect(result.ok).toBe(isObject);
        if (result.ok) {
          const fileName = (value as { fileName?: unknown }).fileName;
          expect(result.fileName).toBe(typeof fileName === "string" ? fileName : "");
        }
      }),
    );
  });

  it("refuses what JSON.parse refuses", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        if (!parses) expect(checkCreationBody(encoder.encode(text), 1_000).ok).toBe(false);
      }),
    );
  });
});
