/**
 * Reads docker-compose.yml the way Compose does before it runs anything: variables interpolated
 * (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$$`), YAML merge
 * keys resolved, and each service normalised to what scripts/cluster.ts needs to run it locally.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

/** The compose file at the top of the repository. */
export const COMPOSE_FILE = resolve(__dirname, '..', 'docker-compose.yml');

/** A `depends_on` condition. */
export type DependsCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

/** A file or volume mounted into a service at `target`. */
export interface Mount {
  kind: 'config' | 'volume' | 'bind';
  /** config: the file on the host; volume: the volume's name; bind: the host path. */
  source: string;
  target: string;
}

/** One service, normalised. */
export interface ComposeService {
  name: string;
  image?: string;
  /** The Dockerfile target it is built from, when it is built here. */
  buildTarget?: string;
  command?: string[];
  environment: Record<string, string>;
  /** Container ports the service listens on (`expose` and the container side of `ports`). */
  ports: number[];
  /** Container ports published on the host (the host side equals the container side here). */
  published: number[];
  mounts: Mount[];
  dependsOn: Record<string, DependsCondition>;
  profiles: string[];
  replicas: number;
  /** Static addresses on the compose networks. */
  addresses: string[];
}

/** The whole file, normalised. */
export interface ComposeFile {
  path: string;
  services: Record<string, ComposeService>;
  /** The document after interpolation (what the schema test validates). */
  document: Record<string, unknown>;
}

/** Raised when a `${VAR:?message}` variable is unset or the file uses something the runner cannot read. */
export class ComposeError extends Error {
  override name = 'ComposeError';
}

const VAR = /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Interpolates one string like Compose does. */
export function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(VAR, (_m, all: string, name?: string, op?: string, arg?: string, bare?: string) => {
    if (all === '$') return '$';
    const key = name ?? bare!;
    const value = vars[key];
    const unsetOrEmpty = value === undefined || value === '';
    switch (op) {
      case ':-':
        return unsetOrEmpty ? (arg ?? '') : value;
      case '-':
        return value === undefined ? (arg ?? '') : value;
      case ':?':
        if (unsetOrEmpty) throw new ComposeError(`${key}: ${arg || 'required'}`);
        return value;
      case '?':
        if (value === undefined) throw new ComposeError(`${key}: ${arg || 'required'}`);
        return value;
      default:
        return value ?? '';
    }
  });
}

function interpolateDeep(value: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, vars)]));
  return value;
}

function environmentOf(env: unknown): Record<string, string> {
  if (!env) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((e: string) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function containerPort(spec: unknown): { port: number; published: boolean } {
  if (typeof spec === 'number') return { port: spec, published: false };
  if (typeof spec === 'object' && spec) return { port: Number((spec as { target: unknown }).target), published: true };
  const parts = String(spec).split('/')[0].split(':');
  return { port: Number(parts.at(-1)), published: parts.length > 1 };
}

/** The parts of a service's YAML the runner reads (the schema test checks the rest). */
interface RawService {
  image?: string;
  build?: string | { target?: string };
  command?: string | string[];
  environment?: string[] | Record<string, unknown>;
  expose?: Array<string | number>;
  ports?: Array<string | number | { target: number }>;
  configs?: Array<string | { source: string; target: string }>;
  volumes?: Array<string | { source: string; target: string }>;
  depends_on?: string[] | Record<string, { condition?: DependsCondition }>;
  profiles?: string[];
  deploy?: { replicas?: number | string };
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

interface RawDocument {
  services?: Record<string, RawService>;
  configs?: Record<string, { file?: string }>;
}

function service(name: string, raw: RawService, doc: RawDocument, base: string): ComposeService {
  const ports: number[] = [];
  const published: number[] = [];
  for (const p of raw.expose ?? []) ports.push(containerPort(p).port);
  for (const p of raw.ports ?? []) {
    const { port } = containerPort(p);
    if (!ports.includes(port)) ports.push(port);
    published.push(port);
  }
  const mounts: Mount[] = [];
  for (const c of raw.configs ?? []) {
    const source = typeof c === 'string' ? c : c.source;
    const file = doc.configs?.[source]?.file;
    if (!file) throw new ComposeError(`service ${name}: config "${source}" has no file`);
    mounts.push({ kind: 'config', source: resolve(base, file), target: typeof c === 'string' ? `/${source}` : c.target });
  }
  for (const v of raw.volumes ?? []) {
    const [source, target] = typeof v === 'string' ? v.split(':') : [v.source, v.target];
    if (!source || !target) throw new ComposeError(`service ${name}: volume ${JSON.stringify(v)} needs a source and a target`);
    const bind = source.startsWith('.') || source.startsWith('/');
    mounts.push({ kind: bind ? 'bind' : 'volume', source: bind ? resolve(base, source) : source, target });
  }
  const dependsOn: Record<string, DependsCondition> = {};
  const deps = raw.depends_on ?? [];
  const entries: Array<[string, { condition?: DependsCondition }]> = Array.isArray(deps) ? deps.map((d) => [d, {}]) : Object.entries(deps);
  for (const [dep, cond] of entries) dependsOn[dep] = cond.condition ?? 'service_started';
  const command =
    raw.command === undefined
      ? undefined
      : Array.isArray(raw.command)
        ? raw.command.map(String)
        : String(raw.command).split(/\s+/).filter(Boolean);
  return {
    name,
    image: raw.image,
    buildTarget: typeof raw.build === 'object' ? raw.build?.target : undefined,
    command,
    environment: environmentOf(raw.environment),
    ports,
    published,
    mounts,
    dependsOn,
    profiles: raw.profiles ?? [],
    replicas: Number(raw.deploy?.replicas ?? 1),
    addresses: Object.values(raw.networks && !Array.isArray(raw.networks) ? raw.networks : {}).flatMap((n) =>
      n?.ipv4_address ? [n.ipv4_address] : [],
    ),
  };
}

/** Loads, interpolates and normalises a compose file. */
export function loadCompose(vars: Record<string, string | undefined>, path = COMPOSE_FILE): ComposeFile {
  const parsed = parse(readFileSync(path, 'utf8'), { merge: true }) as Record<string, unknown>;
  const document = interpolateDeep(parsed, vars) as Record<string, unknown> & RawDocument;
  const base = dirname(path);
  const services = Object.fromEntries(
    Object.entries(document.services ?? {}).map(([name, raw]) => [name, service(name, raw, document, base)]),
  );
  return { path, services, document };
}
