/** Reads, validates and freezes the gateway config. Messages name the key and the fix. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { GatewayConfigSchema, type GatewayConfig } from './schema';

/** Thrown when the config is unusable; `message` lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The default config path, overridable with STORMPROOF_CONFIG. */
export const DEFAULT_CONFIG_PATH = resolve(__dirname, 'default.yaml');

function keyOf(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '') || '(root)'
  );
}

/** Turns zod issues into "key: problem" lines. */
export function describeIssues(error: z.ZodError, raw?: unknown): string[] {
  return error.issues.map((issue) => {
    let where = keyOf(issue.path);
    // Name targets by id, not only by index, so the message points at the right block.
    const m = /^targets\[(\d+)\]/.exec(where);
    const targets = (raw as { targets?: Array<{ id?: unknown }> } | undefined)?.targets;
    if (m && Array.isArray(targets) && typeof targets[Number(m[1])]?.id === 'string') where += ` (target "${targets[Number(m[1])].id}")`;
    if (issue.code === 'unrecognized_keys')
      return `${where}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove or fix the spelling`;
    return `${where}: ${issue.message}`;
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

/** Validates a parsed config object. */
export function parseConfig(raw: unknown, source = '(inline)'): GatewayConfig {
  const result = GatewayConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, describeIssues(result.error, raw));
  return deepFreeze(result.data);
}

/** Checks what the schema cannot: the environment the config refers to. */
export function checkEnvironment(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env, source = '(inline)'): void {
  const problems: string[] = [];
  config.targets.forEach((t, i) => {
    if (!t.mock && t.apiKeyEnv && !env[t.apiKeyEnv]) {
      problems.push(
        `targets[${i}].apiKeyEnv (target "${t.id}"): environment variable ${t.apiKeyEnv} is not set; export it or set mock: true`,
      );
    }
  });
  if (problems.length) throw new ConfigError(source, problems);
}

/** Loads YAML from `path` (default: STORMPROOF_CONFIG or config/default.yaml). */
export function loadConfig(path = process.env.STORMPROOF_CONFIG ?? DEFAULT_CONFIG_PATH): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file (${(err as Error).message}); set STORMPROOF_CONFIG to a config file`]);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid YAML: ${(err as Error).message}`]);
  }
  return parseConfig(raw, path);
}
