import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type * as z from "zod/mini";
import { errorResponse } from "./errors";
import { documentRequest } from "./openapi/describe";

/**
 * zValidator whose failures answer 400 `{ "error": "<field> <problem>" }` like every other error.
 * The OpenAPI document reads the schema from here, so it shows exactly what is checked.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodMiniType>(
  target: Target,
  schema: Schema,
) {
  const validator = zValidator(target, schema, (result, c) => {
    if (result.success) return;
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")} ` : "";
    return errorResponse(c, 400, `${where}${issue?.message ?? "is invalid"}`);
  });
  documentRequest(validator, { target, schema });
  return validator;
}
