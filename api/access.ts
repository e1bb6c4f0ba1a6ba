/**
 * Authorization as one table: every route × who may call it, checked *after* routing. The check
 * is put in front of each registered route's own handlers, so it runs for exactly the route
 * express matched, whatever the letter case, trailing slash or encoding of the path; a route
 * without a row in the table stops the gateway at start-up (deny by default).
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import { ErrorCode, type ErrorCodeName } from '../contracts/errors';
import { ApiError } from './errors';
import { principalOf, type Principal } from './auth';
import type { Owners, ResourceKind } from './owners';

/** Who may call a route. `internal`: the stream relay, which checks its own token. */
export type Role = 'public' | 'internal' | 'tenant' | 'admin';

/** One row of the table. */
export interface AccessRule {
  role: Role;
  /** The `:param` names a resource the caller must own (admins: any); others get a 404. */
  owns?: { kind: ResourceKind; param: string; write?: boolean };
  /** What else the route asks of the caller once authorized (limits, admission); see api/limits.ts. */
  admit?: Admission;
}

/** Named admission checks a route runs after authorization (implemented by {@link AccessDeps.admit}). */
export type Admission = 'job' | 'chat' | 'messages' | 'batch' | 'collection-query' | 'event-stream';

/** `METHOD /full/route/path` → rule. HEAD uses GET's row. */
export const ACCESS_TABLE: Readonly<Record<string, AccessRule>> = Object.freeze({
  'GET /openapi.json': { role: 'public' },
  'GET /healthz': { role: 'public' },
  'GET /readyz': { role: 'public' },
  'GET /metrics': { role: 'public' },
  'GET /warroom': { role: 'public' },
  'GET /warroom/:asset': { role: 'public' },
  'GET /warroom/data.json': { role: 'public' },
  'POST /internal/streams/:jobId': { role: 'internal' },
  'GET /internal/streams/:jobId': { role: 'internal' },
  'GET /v1/jobs': { role: 'tenant' },
  'POST /v1/jobs': { role: 'tenant', admit: 'job' },
  'GET /v1/jobs/:id': { role: 'tenant', owns: { kind: 'job', param: 'id' } },
  'DELETE /v1/jobs/:id': { role: 'tenant', owns: { kind: 'job', param: 'id' } },
  'GET /v1/jobs/:id/events': { role: 'tenant', owns: { kind: 'job', param: 'id' }, admit: 'event-stream' },
  'POST /v1/chat/completions': { role: 'tenant', admit: 'chat' },
  'POST /v1/messages': { role: 'tenant', admit: 'messages' },
  'GET /v1/models': { role: 'tenant' },
  'GET /v1/models/:id': { role: 'tenant' },
  'POST /v1/batches': { role: 'tenant', admit: 'batch' },
  'GET /v1/batches/:id': { role: 'tenant', owns: { kind: 'batch', param: 'id' } },
  'DELETE /v1/batches/:id': { role: 'tenant', owns: { kind: 'batch', param: 'id' } },
  'GET /v1/collections': { role: 'tenant' },
  'POST /v1/collections/:name/documents': { role: 'tenant', owns: { kind: 'collection', param: 'name', write: true } },
  'POST /v1/collections/:name/query': { role: 'tenant', owns: { kind: 'collection', param: 'name' }, admit: 'collection-query' },
  'GET /v1/providers': { role: 'tenant' },
  'GET /v1/providers/:id': { role: 'tenant' },
  'POST /v1/providers/:id/breaker': { role: 'admin' },
  'GET /v1/admin/config': { role: 'admin' },
  'PUT /v1/admin/config': { role: 'admin' },
  'POST /v1/codec/encode': { role: 'admin' },
  'POST /v1/codec/decode': { role: 'admin' },
  'OPTIONS /v1/codec/encode': { role: 'public' },
  'OPTIONS /v1/codec/decode': { role: 'public' },
});

/** What the check needs. */
export interface AccessDeps {
  owners: Owners;
  /** Runs a route's admission check (limits); throws an ApiError to refuse. */
  admit: (what: Admission, req: Request, res: Response, who: Principal) => Promise<void> | void;
}

const NOT_FOUND: Record<ResourceKind, [ErrorCodeName, string]> = {
  job: [ErrorCode.JobNotFound, 'job'],
  batch: [ErrorCode.BatchNotFound, 'batch'],
  collection: [ErrorCode.CollectionNotFound, 'collection'],
};

/** Whether `who` may use a resource owned by `owner` (null: shared) for reading or writing. */
export function mayUse(who: Principal, kind: ResourceKind, owner: string | null, write = false): boolean {
  if (who.admin || owner === who.id) return true;
  // Shared collections (the sample, CLI ingests) are readable by every tenant; nothing else is shared.
  return kind === 'collection' && owner === null && !write;
}

/** The check for one rule (exported for the unit tests). */
export function accessCheck(rule: AccessRule, deps: AccessDeps): RequestHandler {
  return async (req, res, next) => {
    if (rule.role === 'public' || rule.role === 'internal') return next();
    const who = principalOf(res);
    if (!who) throw new ApiError(401, ErrorCode.Unauthorized, 'a valid API key is required (Authorization: Bearer <key>)');
    if (rule.role === 'admin' && !who.admin)
      throw new ApiError(403, ErrorCode.Forbidden, 'this operator route needs a key with the admin role');
    if (rule.owns) {
      const { kind, param, write } = rule.owns;
      const id = String(req.params[param] ?? '');
      const o = await deps.owners.of(kind, id);
      if (o.exists && !mayUse(who, kind, o.owner, write)) {
        // Shared collections exist for everyone, so saying so leaks nothing.
        if (kind === 'collection' && o.owner === null)
          throw new ApiError(403, ErrorCode.Forbidden, `collection "${id}" is shared; only an admin key may change it`);
        const [code, noun] = NOT_FOUND[kind];
        throw new ApiError(404, code, `no ${noun} "${id}"`);
      }
      // A job or batch that does not exist is the handler's 404; a collection may be created.
    }
    if (rule.admit) await deps.admit(rule.admit, req, res, who);
    next();
  };
}

interface RouteLike {
  path: string | string[];
  methods: Record<string, boolean>;
  stack: unknown[];
  [method: string]: unknown;
}
interface RouterLike {
  stack: Array<{ route?: RouteLike; handle: unknown }>;
  listRoutes(): Array<{ path: string | RegExp; router?: unknown }>;
}

/** `/v1/jobs` + `/` is the route `/v1/jobs` (express matches both with or without the slash). */
function joinPath(prefix: string, path: string): string {
  const full = `${prefix}${path}`;
  return full.length > 1 ? full.replace(/\/+$/, '') : full;
}

/** A registered route: `METHOD /full/path`, the mount it sits under ('' for the app's own), its route object. */
export interface RegisteredRoute {
  key: string;
  mount: string;
  route: RouteLike;
  method: string;
}

/** Every registered route, in registration order. */
export function registeredRoutes(app: Express): RegisteredRoute[] {
  const out: RegisteredRoute[] = [];
  const walk = (router: RouterLike, prefix: string) => {
    const mounts = new Map(
      router
        .listRoutes()
        .filter((r) => r.router)
        .map((r) => [r.router, String(r.path)]),
    );
    for (const layer of router.stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? (layer.route.path as string[]) : [layer.route.path];
        for (const m of Object.keys(layer.route.methods)) {
          for (const p of paths) {
            const path = joinPath(prefix, p);
            if (m === '_all') throw new Error(`route ${path} answers every method; register methods one by one so each has an access rule`);
            out.push({ key: `${m.toUpperCase()} ${path}`, mount: prefix, route: layer.route, method: m });
          }
        }
      } else if (mounts.has(layer.handle)) {
        walk(layer.handle as RouterLike, prefix + mounts.get(layer.handle));
      }
    }
  };
  walk((app as unknown as { router: RouterLike }).router, '');
  return out;
}

/**
 * Puts the table's check in front of every route registered so far (call it after the last route,
 * before the 404 handler). Throws when a route has no row: deny by default.
 */
export function enforceAccess(app: Express, deps: AccessDeps, table: Readonly<Record<string, AccessRule>> = ACCESS_TABLE): void {
  const missing: string[] = [];
  const done = new Map<RouteLike, Map<string, AccessRule>>();
  for (const { key, route, method } of registeredRoutes(app)) {
    const rule = table[key];
    if (!rule) {
      missing.push(key);
      continue;
    }
    // A route registered with several paths is checked once; its paths must share one rule.
    const seen = done.get(route)?.get(method);
    if (seen) {
      if (seen.role !== rule.role || seen.owns !== rule.owns || seen.admit !== rule.admit)
        throw new Error(`route ${key} shares its handlers with a path that has another access rule`);
      continue;
    }
    done.set(route, (done.get(route) ?? new Map()).set(method, rule));
    // Register through the route's own API, then move the new layer to the front of its stack.
    const before = route.stack.length;
    (route[method] as (fn: RequestHandler) => void).call(route, accessCheck(rule, deps));
    route.stack.unshift(...route.stack.splice(before));
  }
  if (missing.length) throw new Error(`routes without an access rule in api/access.ts: ${missing.join(', ')}`);
}
