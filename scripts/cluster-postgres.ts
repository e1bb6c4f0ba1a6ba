/**
 * A private PostgreSQL instance for the local cluster: its own data folder in a temp dir, its own
 * free port on 127.0.0.1, password authentication, stopped and deleted by `stop()`. The local
 * stand-in for the compose file's `postgres:15` service (same user and password variables).
 *
 * PostgreSQL refuses to run as root (CI runs as root), so as root it runs as the `postgres` user of
 * the Debian package, or a system user this script creates when there is none.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link startPostgres}. */
export interface PostgresOptions {
  port: number;
  user: string;
  password: string;
  /** Receives progress lines. */
  log?: (line: string) => void;
}

/** A running instance. */
export interface RunningPostgres {
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const FALLBACK_USER = 'stormproof-pg';

/** The folder of `initdb`/`pg_ctl`: $PG_BIN, PATH, or the newest /usr/lib/postgresql/<v>/bin. */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  if (spawnSync('pg_ctl', ['--version']).status === 0) return '';
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  if (!versions.length) {
    throw new Error(
      'PostgreSQL is not installed (no pg_ctl on PATH or under /usr/lib/postgresql). Install it, e.g. `apt-get install postgresql-15`, or set PG_BIN to its bin folder',
    );
  }
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

/** As root: the unprivileged account PostgreSQL runs as (created when missing). */
function serviceAccount(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (name: string) => spawnSync('id', ['-u', name], { encoding: 'utf8' });
  let name = 'postgres';
  if (lookup(name).status !== 0) {
    name = FALLBACK_USER;
    if (lookup(name).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  }
  const uid = Number(lookup(name).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  return { name, uid, gid };
}

/** Starts PostgreSQL; resolves once it accepts connections. */
export async function startPostgres(opts: PostgresOptions): Promise<RunningPostgres> {
  const say = opts.log ?? (() => undefined);
  const bin = postgresBin();
  const tool = (name: string) => (bin ? join(bin, name) : name);
  const account = serviceAccount();
  const root = mkdtempSync(join(tmpdir(), 'stormproof-pg-'));
  const dataDir = join(root, 'data');
  const pwFile = join(root, 'pwfile');
  writeFileSync(pwFile, `${opts.password}\n`, { mode: 0o600 });
  if (account) {
    chownSync(root, account.uid, account.gid);
    chownSync(pwFile, account.uid, account.gid);
  }
  chmodSync(root, 0o700);
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = account ? ['runuser', ['-u', account.name, '--', tool(cmd), ...args]] : [tool(cmd), args];
    const r = spawnSync(file, argv, { encoding: 'utf8', cwd: root });
    if (r.status !== 0)
      throw new Error(`${cmd} failed (${r.error?.message ?? `exit ${r.status}`}):\n${`${r.stdout}${r.stderr}`.trim().slice(-2000)}`);
  };
  say(`[cluster] PostgreSQL: initdb in ${dataDir}${account ? ` (as ${account.name})` : ''}…`);
  run('initdb', [
    '-D',
    dataDir,
    '-U',
    opts.user,
    '--pwfile',
    pwFile,
    '--auth',
    'scram-sha-256',
    '-E',
    'UTF8',
    '--locale',
    'C',
    '--no-sync',
  ]);
  rmSync(pwFile);
  // Durability of the test database is not the point: fsync off keeps the 2-core box quick.
  const settings = `-c listen_addresses=127.0.0.1 -c port=${opts.port} -c unix_socket_directories=${root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  run('pg_ctl', ['-D', dataDir, '-l', join(root, 'postgres.log'), '-o', settings, '-w', '-t', '60', 'start']);
  say(`[cluster] PostgreSQL listening on 127.0.0.1:${opts.port}`);
  let stopped: Promise<void> | undefined;
  return {
    port: opts.port,
    dataDir,
    stop() {
      stopped ??= (async () => {
        try {
          run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}
