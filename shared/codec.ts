/**
 * The payload codec: every payload Temporal stores for us (workflow inputs and results, activity
 * inputs and results, memos, queries' answers) is sealed with AES-256-GCM before it leaves the
 * process, so prompts, answers and callback URLs are not readable in the server's database or
 * the Web UI without a key. Each sealed payload names its key id; decoding picks the key by id,
 * so rotation is adding a key in front (new payloads use it, old ones still open). Payloads that
 * were never sealed (histories from before the codec) pass through unchanged. Search attributes
 * are not payloads the codec sees: they hold no prompt text (model, target, status, owner).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { GatewayConfig } from '../config/schema';

/** Metadata encoding of a sealed payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was sealed with. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** One key: its id (stored in each payload) and its 32 bytes. */
export interface CodecKey {
  id: string;
  key: Buffer;
}

/**
 * Parses `id:<base64 of 32 bytes>[,id:<base64>…]` (the first encrypts). Throws a message that
 * names the variable and the fix, never the key.
 */
export function parseCodecKeys(value: string | undefined, variable: string): CodecKey[] {
  const keys: CodecKey[] = [];
  for (const entry of (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    if (!KEY_ID.test(id)) throw new Error(`${variable}: entries are <id>:<base64 key>, the id 1-64 letters, digits, _ . or -`);
    const key = Buffer.from(entry.slice(sep + 1), 'base64');
    if (key.length !== 32)
      throw new Error(`${variable}: key "${id}" is ${key.length} bytes; AES-256 needs 32 (e.g. openssl rand -base64 32)`);
    if (keys.some((k) => k.id === id)) throw new Error(`${variable}: key id "${id}" appears twice`);
    keys.push({ id, key });
  }
  return keys;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** AES-256-GCM codec over whole payloads (metadata included), keyed by id. */
export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: readonly CodecKey[]) {
    if (!keys.length) throw new Error('the payload codec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0];
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      // The key id is authenticated too: a payload cannot be relabelled to another key.
      cipher.setAAD(Buffer.from(id));
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: enc.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: enc.encode(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (!p.metadata?.encoding || dec.decode(p.metadata.encoding) !== ENCRYPTED_ENCODING) return p;
      const id = p.metadata[KEY_ID_METADATA] ? dec.decode(p.metadata[KEY_ID_METADATA]) : '';
      const key = this.byId.get(id);
      if (!key) throw new Error(`payload sealed with key "${id}", which this process does not have; add it to the codec keys`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('sealed payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The codec the config and environment ask for, or undefined (payloads stay plain JSON). */
export function codecFromConfig(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): AesGcmCodec | undefined {
  const keys = parseCodecKeys(env[config.codec.keysEnv], config.codec.keysEnv);
  if (!keys.length) {
    if (config.codec.required)
      throw new Error(`codec.required is on and ${config.codec.keysEnv} holds no key; set it to <id>:<base64 of 32 random bytes>`);
    return undefined;
  }
  return new AesGcmCodec(keys);
}

/** The data converter for clients and workers of this config (every process must use the same keys). */
export function dataConverterFor(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): DataConverter {
  const codec = codecFromConfig(config, env);
  return codec ? { payloadCodecs: [codec] } : {};
}
