/** LocalCancels: a job's watched calls abort when this process cancels the job, others do not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abortedOrAfter, LocalCancels } from './local-cancels';

test('cancel aborts every watched call of the job, only those, and released ones are forgotten', () => {
  const c = new LocalCancels();
  const a1 = c.watch('job-a');
  const a2 = c.watch('job-a');
  const b = c.watch('job-b');
  a2.release();
  c.cancel('job-a');
  assert.equal(a1.signal.aborted, true);
  assert.equal(a2.signal.aborted, false, 'a released call is not touched');
  assert.equal(b.signal.aborted, false);
  c.cancel('job-unknown');
});

test('abortedOrAfter: at the abort, or at the bound', async () => {
  const ac = new AbortController();
  const waiting = abortedOrAfter(ac.signal, 60_000);
  ac.abort();
  await waiting;
  await abortedOrAfter(new AbortController().signal, 5);
});
