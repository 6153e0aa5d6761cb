import { validate } from "@readme/openapi-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVER_NAME, startTestStack, type TestStack } from "./test-stack";

/**
 * The API reference as `wrangler dev` serves it, checked by a maintained OpenAPI validator (it
 * compiles JSON Schemas at run time, which workerd forbids, so it runs here in Node).
 */
describe(`the API reference under ${SERVER_NAME}`, () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("serves a valid OpenAPI 3.1 document", async () => {
    const response = await fetch(`${stack.proxyUrl}/openapi.json`);
    const document = (await response.json()) as Parameters<typeof validate>[0] & {
      openapi: string;
    };

    const result = await validate(document);

    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.specification).toBe("OpenAPI");
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it("serves the reference page", async () => {
    const response = await fetch(`${stack.proxyUrl}/docs`);

    expect(response.status).toBe(200);
    expect(await response.text()).toContain("/openapi.json");
  });
});
