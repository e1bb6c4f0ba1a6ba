import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA, parseCodecKeys } from './codec';

const key = (id: string) => ({ id, key: randomBytes(32) });
const text = (b?: Uint8Array | null) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

test('a sealed payload names its key, hides its content, and opens to exactly what went in', async () => {
  const codec = new AesGcmCodec([key('k1')]);
  const plain = defaultPayloadConverter.toPayload({ prompt: 'the secret plan' });
  const [sealed] = await codec.encode([plain]);
  assert.equal(text(sealed.metadata?.encoding), ENCRYPTED_ENCODING);
  assert.equal(text(sealed.metadata?.[KEY_ID_METADATA]), 'k1');
  assert.ok(!text(sealed.data).includes('secret'));
  const [opened] = await codec.decode([sealed]);
  assert.deepEqual(defaultPayloadConverter.fromPayload(opened), { prompt: 'the secret plan' });
  const [again] = await codec.encode([plain]);
  assert.notDeepEqual(Buffer.from(again.data!), Buffer.from(sealed.data!), 'a fresh IV every time');
});

test('rotation: a new key first seals new payloads; payloads of the old key still open', async () => {
  const k1 = key('k1');
  const k2 = key('k2');
  const [old] = await new AesGcmCodec([k1]).encode([defaultPayloadConverter.toPayload('old')]);
  const rotated = new AesGcmCodec([k2, k1]);
  const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload('new')]);
  assert.equal(text(fresh.metadata?.[KEY_ID_METADATA]), 'k2');
  assert.deepEqual(
    (await rotated.decode([old, fresh])).map((p) => defaultPayloadConverter.fromPayload(p)),
    ['old', 'new'],
  );
  await assert.rejects(new AesGcmCodec([k2]).decode([old]), /key "k1", which this process does not have/);
});

test('tampering, relabelling and truncation are refused; plain payloads (old histories) pass through', async () => {
  const k1 = key('k1');
  const k2 = key('k2');
  const codec = new AesGcmCodec([k1, k2]);
  const [sealed] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
  const flipped = Buffer.from(sealed.data!);
  flipped[20] ^= 1;
  await assert.rejects(codec.decode([{ ...sealed, data: flipped }]));
  await assert.rejects(
    codec.decode([{ metadata: { ...sealed.metadata, [KEY_ID_METADATA]: Buffer.from('k2') }, data: sealed.data }]),
    'the key id is authenticated',
  );
  await assert.rejects(codec.decode([{ ...sealed, data: Buffer.from(sealed.data!).subarray(0, 10) }]), /truncated/);
  const plain = defaultPayloadConverter.toPayload({ from: 'before the codec' });
  assert.deepEqual(await codec.decode([plain]), [plain]);
});

test('keys are validated at start-up; messages name the variable and the fix, never the key', () => {
  const good = randomBytes(32).toString('base64');
  assert.deepEqual(
    parseCodecKeys(`a:${good}, b:${good}`, 'V').map((k) => k.id),
    ['a', 'b'],
  );
  assert.deepEqual(parseCodecKeys(undefined, 'V'), []);
  const short = randomBytes(16).toString('base64');
  assert.throws(
    () => parseCodecKeys(`a:${short}`, 'V'),
    (e: Error) => /V: key "a" is 16 bytes; AES-256 needs 32/.test(e.message) && !e.message.includes(short),
  );
  assert.throws(() => parseCodecKeys(good, 'V'), /V: entries are <id>:<base64 key>/);
  assert.throws(() => parseCodecKeys(`a:${good},a:${good}`, 'V'), /appears twice/);
});
