/**
 * The codec endpoint (`POST /v1/codec/decode`, `/v1/codec/encode`), Temporal's remote codec
 * protocol: the Web UI or `temporal workflow show --codec-endpoint … --codec-auth "Bearer <admin
 * key>"` sends sealed payloads and gets them back readable. Admin keys only (the access table):
 * the UI shows every tenant's workflows. Browsers may call it from `codec.corsOrigins`.
 */
import { Router, type Response } from 'express';
import { z } from 'zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ErrorCode } from '../contracts/errors';
import { ApiError, fromZod } from './errors';

/** Most payloads one call converts. */
const MAX_PAYLOADS = 1_000;

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const BodySchema = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), b64).optional(), data: b64.optional() }).loose()).max(MAX_PAYLOADS),
});

const toPayload = (p: { metadata?: Record<string, string>; data?: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** Routes under /v1/codec; without a codec, payloads go back as they came. */
export function codecRouter(codec: PayloadCodec | undefined, corsOrigins: readonly string[]): Router {
  const router = Router();
  const origins = new Set(corsOrigins);
  const cors = (origin: string | undefined, res: Response) => {
    if (!origin || !origins.has(origin)) return;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-allow-credentials', 'true');
    res.setHeader('access-control-allow-headers', 'content-type, x-namespace, authorization');
    res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
    res.setHeader('vary', 'origin');
  };
  for (const op of ['encode', 'decode'] as const) {
    router.options(`/${op}`, (req, res) => {
      cors(req.header('origin'), res);
      res.status(204).end();
    });
    router.post(`/${op}`, async (req, res) => {
      cors(req.header('origin'), res);
      const body = BodySchema.safeParse(req.body);
      if (!body.success) throw fromZod(body.error);
      const payloads = body.data.payloads.map(toPayload);
      let out: Payload[];
      try {
        out = codec ? await codec[op](payloads) : payloads;
      } catch (err) {
        throw new ApiError(
          400,
          ErrorCode.InvalidRequest,
          `could not ${op} the payloads: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      res.json({ payloads: out.map(toJson) });
    });
  }
  return router;
}
