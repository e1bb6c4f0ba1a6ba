/**
 * How a compose service's settings become a local process's: every service gets 127.0.0.1 and a
 * free host port for each container port it listens on (per replica), and its environment,
 * command and mounted config files are rewritten to match, by a few fixed rules:
 *   - `<service>:<port>` → `127.0.0.1:<that service's free port>`; `0.0.0.0:<port>` and
 *     `<static address>:<port>` → this service's own free port;
 *   - a value that is exactly a service name, `0.0.0.0` or a static address → `127.0.0.1`;
 *   - under a key or flag ending in "port", a number that is a container port → its free port
 *     (this service's own first; else the one service that listens on it);
 *   - a mount's path inside the container → the local copy of what is mounted there.
 * So the compose file stays the one source of commands, environment and ports.
 */
import { portFree } from './ports';
import type { ComposeService } from './cluster-compose';

const key = (service: string, replica: number, port: number) => `${service}#${replica}:${port}`;
/**
 * Ports come from 20000-32767: below the kernel's ephemeral range (so no outgoing connection holds
 * one), and small enough for Temporal, which stores membership ports as a signed 16-bit number.
 */
const RANGE = { min: 20_000, max: 32_767 };

async function freeLowPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 1_000; i++) {
    const port = RANGE.min + Math.floor(Math.random() * (RANGE.max - RANGE.min + 1));
    if (!taken.has(port) && (await portFree(port, '127.0.0.1'))) return port;
  }
  throw new Error(`no free port in ${RANGE.min}-${RANGE.max}`);
}

/** Free host ports for every service's container ports. */
export class LocalPorts {
  private readonly ports = new Map<string, number>();
  private readonly owners = new Map<number, string[]>();

  constructor(readonly services: Record<string, ComposeService>) {
    for (const s of Object.values(services)) for (const p of s.ports) this.owners.set(p, [...(this.owners.get(p) ?? []), s.name]);
  }

  /** Picks a free port for every container port of `names` (every replica). */
  async allocate(names: Iterable<string>): Promise<void> {
    for (const name of names) {
      const s = this.services[name];
      for (let r = 0; r < s.replicas; r++) {
        for (const p of s.ports) {
          if (!this.ports.has(key(name, r, p))) this.ports.set(key(name, r, p), await freeLowPort(new Set(this.ports.values())));
        }
      }
    }
  }

  /** The host port of a service's container port (replica 0 unless named). */
  of(service: string, port: number, replica = 0): number | undefined {
    return this.ports.get(key(service, replica, port));
  }

  /** The one service listening on `port` (undefined when none or several). */
  ownerOf(port: number): string | undefined {
    const owners = this.owners.get(port);
    return owners?.length === 1 ? owners[0] : undefined;
  }
}

/** Which process a value is rewritten for. */
export interface RewriteContext {
  ports: LocalPorts;
  self: string;
  replica: number;
  /** Container path → local path (configs, volumes). */
  mounts: Array<{ target: string; local: string }>;
}

function staticAddresses(ctx: RewriteContext): Set<string> {
  return new Set(Object.values(ctx.ports.services).flatMap((s) => s.addresses));
}

function portFor(ctx: RewriteContext, host: string, port: number): number | undefined {
  const own = ctx.ports.of(ctx.self, port, ctx.replica);
  if (host === '0.0.0.0' || staticAddresses(ctx).has(host)) return own;
  if (host === '') return own ?? (ctx.ports.ownerOf(port) ? ctx.ports.of(ctx.ports.ownerOf(port)!, port) : undefined);
  return ctx.ports.of(host, port);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Rewrites one string value; `name` is its key or the flag before it. */
export function rewriteValue(value: string, ctx: RewriteContext, name = ''): string {
  const hosts = [...Object.keys(ctx.ports.services), '0.0.0.0', ...staticAddresses(ctx)];
  if (hosts.includes(value)) return '127.0.0.1';
  if (/port$/i.test(name) && /^\d+$/.test(value)) {
    const mapped = portFor(ctx, '', Number(value));
    if (mapped !== undefined) return String(mapped);
  }
  let out = value;
  for (const m of [...ctx.mounts].sort((a, b) => b.target.length - a.target.length)) out = out.split(m.target).join(m.local);
  const re = new RegExp(`(^|[^\\w.-])(${hosts.map(escape).join('|')}):(\\d+)`, 'g');
  return out.replace(re, (whole, pre: string, host: string, port: string) => {
    const mapped = portFor(ctx, host, Number(port));
    return mapped === undefined ? whole : `${pre}127.0.0.1:${mapped}`;
  });
}

/** Rewrites every scalar of a parsed YAML/JSON document (keys name the values under them). */
export function rewriteDocument(doc: unknown, ctx: RewriteContext, name = ''): unknown {
  if (typeof doc === 'string') return rewriteValue(doc, ctx, name);
  if (typeof doc === 'number' && /port$/i.test(name)) return Number(rewriteValue(String(doc), ctx, name));
  if (Array.isArray(doc)) return doc.map((d) => rewriteDocument(d, ctx, name));
  if (doc && typeof doc === 'object') return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, rewriteDocument(v, ctx, k)]));
  return doc;
}

/** Rewrites a command line: each argument is named by the flag before it. */
export function rewriteCommand(args: string[], ctx: RewriteContext): string[] {
  return args.map((a, i) => rewriteValue(a, ctx, i > 0 && args[i - 1].startsWith('-') ? args[i - 1] : ''));
}

/** Rewrites an environment: each value is named by its variable. */
export function rewriteEnvironment(env: Record<string, string>, ctx: RewriteContext): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, rewriteValue(v, ctx, k)]));
}
