import type { Ledgers } from "../../core/creation/idempotency";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";

/** Each tenant's ledger is its own object; every call bounded in time. */
export function durableLedgers(namespace: Env["CREATION_LEDGER"]): Ledgers {
  return { of: objectCalls(namespace, "creation ledger", OBJECT_DEADLINES_MS.ledger) };
}
