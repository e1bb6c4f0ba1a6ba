/**
 * Authentication: who is calling. Keys are kept only as SHA-256 hashes (from the config, or
 * hashed at start-up from the environment); each key is a tenant, and `admin` is a role. With no
 * keys the API is open, which is allowed only on a loopback address ({@link assertSafeOpenMode})
 * and only for requests whose Host header names this machine (DNS rebinding). What a caller may
 * do is decided after routing, by the access table (api/access.ts).
 */
import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ErrorCode } from '../contracts/errors';
import type { GatewayConfig } from '../config/schema';
import { ApiError } from './errors';

/** A known key (hash only). */
export interface ApiKey {
  id: string;
  admin: boolean;
  rateLimitPerMinute: number;
}

/** Who is calling: a tenant (its key id) and whether it has the admin role. */
export interface Principal {
  id: string;
  admin: boolean;
}

/** The principal of open mode (no keys configured): the local operator, with every right. */
export const OPEN_PRINCIPAL: Principal = Object.freeze({ id: 'local', admin: true });

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Shortest key accepted from the environment (a guessable key is no key). */
const MIN_KEY_LENGTH = 16;

/** Hex SHA-256 of a key. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Every key, by hash: the config's plus `auth.keysEnv`'s (`id:key[:admin]`, comma-separated). */
export function loadKeys(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): Map<string, ApiKey> {
  const keys = new Map<string, ApiKey>();
  const limit = config.auth.rateLimitPerMinute;
  for (const k of config.auth.keys) keys.set(k.sha256, { id: k.id, admin: k.admin, rateLimitPerMinute: k.rateLimitPerMinute ?? limit });
  for (const entry of (env[config.auth.keysEnv] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [id, key, scope] = entry.split(':');
    if (!id || !key || (scope !== undefined && scope !== 'admin'))
      throw new Error(`${config.auth.keysEnv}: entries are id:key or id:key:admin`);
    if (!KEY_ID.test(id)) throw new Error(`${config.auth.keysEnv}: key id "${id.slice(0, 64)}" must be 1-64 letters, digits, _ . or -`);
    if (key.length < MIN_KEY_LENGTH)
      throw new Error(
        `${config.auth.keysEnv}: the key of "${id}" is shorter than ${MIN_KEY_LENGTH} characters; use a random key (e.g. openssl rand -hex 24)`,
      );
    keys.set(hashKey(key), { id, admin: scope === 'admin', rateLimitPerMinute: limit });
  }
  return keys;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Refuses to serve an open API (no keys) on a non-loopback address; returns true when open. */
export function assertSafeOpenMode(config: GatewayConfig, keys: Map<string, ApiKey>): boolean {
  if (keys.size > 0) return false;
  if (!LOOPBACK.test(config.api.host)) {
    throw new Error(
      `no API keys configured and api.host is ${config.api.host}: an open API may listen on loopback only; configure auth.keys or ${config.auth.keysEnv}`,
    );
  }
  return true;
}

/** Host names an open API answers to: loopback names, the listen address and `auth.openHosts`. */
export function openHosts(config: GatewayConfig): Set<string> {
  return new Set(
    [
      'localhost',
      '127.0.0.1',
      '[::1]',
      config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host,
      ...config.auth.openHosts,
    ].map((h) => h.toLowerCase()),
  );
}

/** The Host header without its port, lower-cased ('' when absent). */
export function hostName(header: string | undefined): string {
  const h = (header ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d*$/, '');
}

/** A token bucket per key: `perMinute` tokens, refilled continuously. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Takes `cost` tokens (default 1); returns the wait in seconds when not enough are left. */
  take(id: string, perMinute: number, cost = 1): { ok: boolean; remaining: number; retryAfterS: number } {
    const t = this.now();
    const b = this.buckets.get(id) ?? { tokens: perMinute, at: t };
    b.tokens = Math.min(perMinute, b.tokens + ((t - b.at) / 60_000) * perMinute);
    b.at = t;
    this.buckets.set(id, b);
    if (b.tokens < cost)
      return {
        ok: false,
        remaining: Math.floor(Math.max(0, b.tokens)),
        retryAfterS: Math.max(1, Math.ceil(((cost - b.tokens) * 60) / perMinute)),
      };
    b.tokens -= cost;
    return { ok: true, remaining: Math.floor(b.tokens), retryAfterS: 0 };
  }
}

function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return m?.[1] ?? apiKey;
}

/** Paths that answer without a key (probes, scraping, the API description); exact, case and all. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

/** The caller, as the auth middleware recorded it (undefined only on public and internal routes). */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/**
 * Whose Idempotency-Keys these are: the tenant's id, or undefined in open mode (one local
 * operator: ids stay what they were before tenants, so a retry across the upgrade finds its job).
 */
export function keyScope(p: Principal | undefined): string | undefined {
  return p && p !== OPEN_PRINCIPAL ? p.id : undefined;
}

/** The caller's principal, or 401 (for handlers of routes the access table keeps from the public). */
export function requirePrincipal(res: Response): Principal {
  const p = principalOf(res);
  if (!p) throw new ApiError(401, ErrorCode.Unauthorized, 'a valid API key is required (Authorization: Bearer <key>)');
  return p;
}

/** Charges `cost - 1` more tokens of the caller's rate limit (a request already paid one). */
export type ChargeFn = (res: Response, cost: number) => void;

export interface AuthOptions {
  limiter?: RateLimiter;
  /** Open mode only: the Host names accepted (default: loopback names). */
  hosts?: ReadonlySet<string>;
}

/**
 * Authenticates (Bearer or x-api-key) and rate-limits per key, before any body is read, so an
 * unauthenticated request is refused cheaply. In open mode every caller is {@link OPEN_PRINCIPAL},
 * but only when the Host header names this machine. Returns the middleware and `charge`, which
 * makes a costly request (a batch of n items) pay for what it asks.
 */
export function authMiddleware(keys: Map<string, ApiKey>, opts: AuthOptions | RateLimiter = {}): RequestHandler & { charge: ChargeFn } {
  const o: AuthOptions = opts instanceof RateLimiter ? { limiter: opts } : opts;
  const limiter = o.limiter ?? new RateLimiter();
  const hosts = o.hosts ?? new Set(['localhost', '127.0.0.1', '[::1]']);
  const byId = new Map([...keys.values()].map((k) => [k.id, k]));
  const handler: RequestHandler = (req, res, next) => {
    // OPTIONS (CORS preflight) carries no credentials and does no work; the access table decides.
    const exempt = PUBLIC_PATHS.has(req.path) || req.path.startsWith('/internal/') || req.method === 'OPTIONS';
    if (keys.size === 0) {
      if (exempt) return next();
      // Why: a web page can point its own domain at 127.0.0.1 (DNS rebinding); its requests then
      // carry that domain as Host. Only this machine's names may use an open API.
      if (!hosts.has(hostName(req.header('host'))))
        throw new ApiError(
          403,
          ErrorCode.HostNotAllowed,
          'this open (keyless) API answers only to localhost; add the name to auth.openHosts, or configure API keys',
        );
      res.locals.principal = OPEN_PRINCIPAL;
      return next();
    }
    if (exempt) return next();
    const key = presentedKey(req.header('authorization'), req.header('x-api-key'));
    const found = key ? keys.get(hashKey(key)) : undefined;
    if (!found) throw new ApiError(401, ErrorCode.Unauthorized, 'a valid API key is required (Authorization: Bearer <key>)');
    const r = limiter.take(found.id, found.rateLimitPerMinute);
    res.setHeader('x-ratelimit-limit-requests', String(found.rateLimitPerMinute));
    res.setHeader('x-ratelimit-remaining-requests', String(r.remaining));
    if (!r.ok) {
      res.setHeader('retry-after', String(r.retryAfterS));
      throw new ApiError(
        429,
        ErrorCode.RateLimited,
        `rate limit of ${found.rateLimitPerMinute} requests per minute reached for key "${found.id}"; retry after ${r.retryAfterS}s`,
      );
    }
    res.locals.principal = { id: found.id, admin: found.admin } satisfies Principal;
    res.locals.apiKeyId = found.id;
    next();
  };
  const charge: ChargeFn = (res, cost) => {
    const p = principalOf(res);
    const key = p && byId.get(p.id);
    if (!key || cost <= 1) return;
    const r = limiter.take(key.id, key.rateLimitPerMinute, cost - 1);
    if (!r.ok) {
      res.setHeader('retry-after', String(r.retryAfterS));
      throw new ApiError(
        429,
        ErrorCode.RateLimited,
        `this request costs ${cost} of the ${key.rateLimitPerMinute} requests per minute of key "${key.id}" and not enough are left; retry after ${r.retryAfterS}s`,
      );
    }
  };
  return Object.assign(handler, { charge });
}
