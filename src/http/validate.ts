import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type * as z from "zod/mini";
import { errorResponse } from "./errors";
import { documentRequest } from "./openapi/describe";

/**
 * zValidator whose failures answer 400 `{ "error": "<field> <rule>", "code": "invalid_request" }`
 * like every other error. The OpenAPI document reads the schema from here, so it shows exactly
 * what is checked.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodMiniType>(
  target: Target,
  schema: Schema,
) {
  const validator = zValidator(target, schema, (result, c) => {
    if (result.success) return;
    const issue = result.error.issues[0];
    const field = issue?.path.length ? issue.path.join(".") : target === "json" ? "body" : target;
    const value = issue ? valueAt(result.data, issue.path) : undefined;
    return errorResponse(
      c,
      "invalid_request",
      `${field} ${issue ? ruleOf(issue, value) : "is invalid"}`,
    );
  });
  documentRequest(validator, { target, schema });
  return validator;
}

/** zod/mini carries no messages of its own: without one from the schema, this is all it says. */
const ZOD_MINI_DEFAULT = "Invalid input";

/** The rule the value broke, in words: the schema's own message, or one built from the issue. */
function ruleOf(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.message !== ZOD_MINI_DEFAULT) return issue.message;
  switch (issue.code) {
    case "invalid_type":
      return value === undefined ? "is required" : `must be ${article(issue.expected)}`;
    case "too_small":
      return `must be ${sizeOf(issue.origin, issue.inclusive ? "at least" : "more than", issue.minimum)}`;
    case "too_big":
      return `must be ${sizeOf(issue.origin, issue.inclusive ? "at most" : "less than", issue.maximum)}`;
    case "invalid_format":
      return issue.format === "regex"
        ? `must match ${issue.pattern}`
        : `must be a valid ${issue.format}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "unrecognized_keys":
      return `has unknown fields: ${issue.keys.join(", ")}`;
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    default:
      return "is invalid";
  }
}

function sizeOf(origin: string, bound: string, limit: number | bigint): string {
  const plural = Number(limit) === 1 ? "" : "s";
  if (origin === "string") return `${bound} ${limit} character${plural} long`;
  if (origin === "array" || origin === "set") return `${bound} ${limit} item${plural} long`;
  return `${bound} ${limit}`;
}

function article(expected: string): string {
  if (expected === "int") return "an integer";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
