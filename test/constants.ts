/** Credentials used only by the test suite; none of them is a real secret. */
export const TEST_WAVELINE_KEY = "wl_test_0123456789abcdef0123456789abcdef";
export const TEST_ADMIN_TOKEN = "test-admin-token-5f0c3b8e9d2a-7c41e06b";

/** The first signs; the second still verifies (a key being rotated out). */
export const TEST_SIGNING_KEYS = [
  { kid: "test-2", secret: "test-signing-secret-2-0123456789abcdef" },
  { kid: "test-1", secret: "test-signing-secret-1-0123456789abcdef" },
];
