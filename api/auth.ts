/**
 * API keys and per-key rate limits. Keys are kept only as SHA-256 hashes (from the config, or
 * hashed at start-up from the environment). With no keys the API is open, which is allowed only
 * on a loopback address ({@link assertSafeOpenMode}).
 */
import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ErrorCode } from '../contracts/errors';
import type { GatewayConfig } from '../config/schema';
import { ApiError } from './errors';

/** A known key (hash only). */
export interface ApiKey {
  id: string;
  admin: boolean;
  rateLimitPerMinute: number;
}

/** Hex SHA-256 of a key. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Every key, by hash: the config's plus `auth.keysEnv`'s (`id:key[:admin]`, comma-separated). */
export function loadKeys(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): Map<string, ApiKey> {
  const keys = new Map<string, ApiKey>();
  const limit = config.auth.rateLimitPerMinute;
  for (const k of config.auth.keys) keys.set(k.sha256, { id: k.id, admin: k.admin, rateLimitPerMinute: k.rateLimitPerMinute ?? limit });
  for (const entry of (env[config.auth.keysEnv] ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const [id, key, scope] = entry.split(':');
    if (!id || !key || (scope !== undefined && scope !== 'admin')) throw new Error(`${config.auth.keysEnv}: entries are id:key or id:key:admin`);
    keys.set(hashKey(key), { id, admin: scope === 'admin', rateLimitPerMinute: limit });
  }
  return keys;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Refuses to serve an open API (no keys) on a non-loopback address; returns true when open. */
export function assertSafeOpenMode(config: GatewayConfig, keys: Map<string, ApiKey>): boolean {
  if (keys.size > 0) return false;
  if (!LOOPBACK.test(config.api.host)) {
    throw new Error(`no API keys configured and api.host is ${config.api.host}: an open API may listen on loopback only; configure auth.keys or ${config.auth.keysEnv}`);
  }
  return true;
}

/** A token bucket per key: `perMinute` requests, refilled continuously. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Takes one token; returns the wait in seconds when none is left. */
  take(id: string, perMinute: number): { ok: boolean; remaining: number; retryAfterS: number } {
    const t = this.now();
    const b = this.buckets.get(id) ?? { tokens: perMinute, at: t };
    b.tokens = Math.min(perMinute, b.tokens + ((t - b.at) / 60_000) * perMinute);
    b.at = t;
    this.buckets.set(id, b);
    if (b.tokens < 1) return { ok: false, remaining: 0, retryAfterS: Math.ceil(((1 - b.tokens) * 60) / perMinute) };
    b.tokens -= 1;
    return { ok: true, remaining: Math.floor(b.tokens), retryAfterS: 0 };
  }
}

function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return m?.[1] ?? apiKey;
}

/** Routes that answer without a key (probes, scraping, the API description). */
const PUBLIC = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

/**
 * Authenticates (Bearer or x-api-key), rate-limits per key, and enforces the admin scope on
 * operator routes. A no-op when no keys are configured.
 */
export function authMiddleware(keys: Map<string, ApiKey>, limiter = new RateLimiter()): RequestHandler {
  return (req, res, next) => {
    if (keys.size === 0 || PUBLIC.has(req.path) || req.path.startsWith('/internal/')) return next();
    const key = presentedKey(req.header('authorization'), req.header('x-api-key'));
    const found = key ? keys.get(hashKey(key)) : undefined;
    if (!found) throw new ApiError(401, ErrorCode.Unauthorized, 'a valid API key is required (Authorization: Bearer <key>)');
    const r = limiter.take(found.id, found.rateLimitPerMinute);
    res.setHeader('x-ratelimit-limit-requests', String(found.rateLimitPerMinute));
    res.setHeader('x-ratelimit-remaining-requests', String(r.remaining));
    if (!r.ok) {
      res.setHeader('retry-after', String(r.retryAfterS));
      throw new ApiError(429, ErrorCode.RateLimited, `rate limit of ${found.rateLimitPerMinute} requests per minute reached for key "${found.id}"; retry after ${r.retryAfterS}s`);
    }
    if (req.path.startsWith('/v1/providers') && req.method !== 'GET' && !found.admin) {
      throw new ApiError(403, ErrorCode.Forbidden, 'operator routes need a key with the admin scope');
    }
    res.locals.apiKeyId = found.id;
    next();
  };
}
