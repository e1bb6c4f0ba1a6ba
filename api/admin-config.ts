/**
 * `GET` and `PUT /v1/admin/config`: the config in force, and a live reload. A PUT carries a whole
 * config (the file's shape, e.g. what GET answered, edited); it is validated by the start-up
 * schema, refused when it changes a key that needs a restart, then published to the task queue's
 * config workflow, which every API and worker process watches (shared/live-config.ts).
 */
import { Router } from 'express';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ConfigError, parseConfig } from '../config/load';
import { liveChanges, restartOnlyChanges, type LiveConfig } from '../config/live';
import { ErrorCode } from '../contracts/errors';
import { publishLiveConfig, readLiveConfig } from '../shared/live-config';
import { principalOf } from './auth';
import { ApiError } from './errors';

export interface AdminConfigDeps {
  client: Client;
  live: LiveConfig;
  taskQueue: string;
}

/** `If-Match: "3"` (or `3`): the version the caller read; absent: last writer wins. */
function expectedVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const v = Number(header.replace(/^W\//, '').replace(/"/g, ''));
  if (!Number.isInteger(v) || v < 0)
    throw new ApiError(400, ErrorCode.InvalidRequest, 'If-Match takes the version GET /v1/admin/config answered, e.g. If-Match: "3"');
  return v;
}

export function adminConfigRouter(deps: AdminConfigDeps): Router {
  const router = Router();
  const { client, live, taskQueue } = deps;

  /** Brings this process's config up to the published version before answering. */
  async function current() {
    const state = await readLiveConfig(client, live.base, taskQueue);
    if (state.overlay) live.apply(state.overlay, state.version);
    return state;
  }

  router.get('/', async (_req, res) => {
    const state = await current();
    res.setHeader('etag', `"${state.version}"`);
    res.json({
      version: state.version,
      appliedAt: state.appliedAt ? new Date(state.appliedAt).toISOString() : undefined,
      by: state.by,
      config: live.current,
    });
  });

  router.put('/', async (req, res) => {
    const body: unknown = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new ApiError(
        400,
        ErrorCode.InvalidRequest,
        'send the whole config as a JSON object (e.g. the `config` GET /v1/admin/config answers, edited)',
      );
    const expected = expectedVersion(req.header('if-match'));
    let next;
    try {
      next = parseConfig(body, 'PUT /v1/admin/config');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ApiError(400, ErrorCode.ConfigInvalid, `config refused, the running one stays: ${err.problems.join('; ')}`, {
        problems: err.problems,
      });
    }
    await current();
    const prev = live.current;
    const restart = restartOnlyChanges(prev, next);
    if (restart.length) {
      throw new ApiError(
        400,
        ErrorCode.ConfigRestartRequired,
        `these keys take effect only after a restart, so the config was not applied: ${restart.join(', ')}; change them in the config file and restart`,
        { keys: restart },
      );
    }
    let state;
    try {
      state = await publishLiveConfig(client, prev, next, taskQueue, {
        expectedVersion: expected,
        by: `PUT /v1/admin/config by ${principalOf(res)?.id ?? 'unknown'}`,
      });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new ApiError(409, ErrorCode.ConfigConflict, err.cause?.message ?? err.message);
      throw err;
    }
    if (state.overlay) live.apply(state.overlay, state.version);
    res.setHeader('etag', `"${state.version}"`);
    res.json({ version: state.version, changed: liveChanges(prev, next), config: live.current });
  });

  return router;
}
