import type { Settlement } from "../../core/creation/settlement";
import { SETTLER_NAME } from "../../core/creation/settler";
import { OBJECT_DEADLINES_MS, objectCalls } from "./object-call";

/** The account's one settler as creation sees it. */
export function durableSettlement(namespace: NonNullable<Env["JOB_SETTLER"]>): Settlement {
  const settler = objectCalls(namespace, "job settler", OBJECT_DEADLINES_MS.settler);
  return { wake: () => settler(SETTLER_NAME).wake() };
}
