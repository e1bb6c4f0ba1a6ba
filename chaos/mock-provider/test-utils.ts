/**
 * Helpers shared by the mock-provider tests.
 */
import { startMockProvider, type MockProvider, type MockProviderOptions } from './server';

/** Starts a mock on an ephemeral port, runs fn, always closes the mock. */
export async function withMock<T>(opts: MockProviderOptions, fn: (mock: MockProvider) => Promise<T>): Promise<T> {
  const mock = await startMockProvider(opts);
  try {
    return await fn(mock);
  } finally {
    await mock.close();
  }
}

/** Polls cond every 10 ms until it holds or timeoutMs passes (then throws). */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
