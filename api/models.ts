/** `GET /v1/models`, OpenAI-compatible: every model a target serves, and every tier name. */
import { Router } from 'express';
import { ErrorCode } from '../contracts/errors';
import type { GatewayConfig } from '../config/schema';
import { sendOpenAiError } from './errors';

/** One entry of the list, with Stormproof's own `stormproof` facts (clients ignore them). */
export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  stormproof: { kind: 'model' | 'tier'; targets: string[]; tier?: string; members?: string[] };
}

/** The model list of a config: models in config order, then tiers. */
export function modelList(config: GatewayConfig): ModelEntry[] {
  const byModel = new Map<string, string[]>();
  for (const t of config.targets) for (const m of t.models) byModel.set(m.id, [...(byModel.get(m.id) ?? []), t.id]);
  const tierOf = (m: string) => Object.keys(config.tiers).find((k) => config.tiers[k].includes(m));
  const models: ModelEntry[] = [...byModel].map(([id, targets]) => ({
    id,
    object: 'model',
    created: 0,
    owned_by: 'stormproof',
    stormproof: { kind: 'model', targets, tier: tierOf(id) },
  }));
  const tiers: ModelEntry[] = Object.entries(config.tiers).map(([id, members]) => ({
    id,
    object: 'model',
    created: 0,
    owned_by: 'stormproof',
    stormproof: { kind: 'tier', members: [...members], targets: [...new Set(members.flatMap((m) => byModel.get(m) ?? []))] },
  }));
  return [...models, ...tiers];
}

/** Routes under /v1/models. */
export function modelsRouter(config: GatewayConfig): Router {
  const router = Router();
  const list = modelList(config);
  router.get('/', (_req, res) => {
    res.json({ object: 'list', data: list });
  });
  router.get('/:id', (req, res) => {
    const entry = list.find((m) => m.id === req.params.id);
    if (!entry) return sendOpenAiError(res, 404, ErrorCode.UnknownModel, `The model "${req.params.id}" does not exist`, 'model');
    res.json(entry);
  });
  return router;
}
