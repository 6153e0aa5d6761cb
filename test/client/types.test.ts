import { describe, expectTypeOf, it } from "vitest";
import type { Job, JobStatus, ProxyErrorCode } from "../../client/index";
import type { ErrorCode } from "../../src/core/errors";
import type { Job as ServerJob, JobStatus as ServerJobStatus } from "../../src/waveline/schema";

/**
 * The published client cannot import the server's schema, so it states the job types itself.
 * `npm run check` (tsc over tsconfig.node.json) fails here the day the two drift apart.
 */
describe("the client's job types", () => {
  it("are the server's, both ways", () => {
    expectTypeOf<Job>().toExtend<ServerJob>();
    expectTypeOf<ServerJob>().toExtend<Job>();
    expectTypeOf<JobStatus>().toEqualTypeOf<ServerJobStatus>();
  });
});

describe("the client's error codes", () => {
  it("are the server's, both ways", () => {
    expectTypeOf<ProxyErrorCode>().toEqualTypeOf<ErrorCode | (string & {})>();
  });
});
