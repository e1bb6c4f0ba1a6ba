/**
 * Config loading and validation: the shipped configs load, the result is frozen and complete,
 * and every bad config yields a message that names the key and says how to fix it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkEnvironment, ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfig } from './load';
import { GatewayConfigSchema } from './schema';

const EXAMPLE_PATH = resolve(__dirname, 'real-providers.example.yaml');

/** A minimal valid target; tests spread over it to break one field at a time. */
function target(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'openai-us-east-1', kind: 'openai', baseUrl: 'http://127.0.0.1:18081/v1', models: [{ id: 'gpt-4o' }], ...over };
}

/** The problems of a config that must fail to parse. */
function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.source, 'test.yaml');
    assert.match(err.message, /^invalid config test\.yaml:\n/);
    return err.problems;
  }
  assert.fail('the config was accepted');
}

function assertDeepFrozen(value: unknown, path = 'config'): void {
  if (!value || typeof value !== 'object') return;
  assert.ok(Object.isFrozen(value), `${path} is not frozen`);
  for (const [k, v] of Object.entries(value)) assertDeepFrozen(v, `${path}.${k}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'stormproof-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function writeTmp(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('loadConfig: shipped configs', () => {
  test('config/default.yaml loads, with mock targets and its tiers', () => {
    const cfg = loadConfig(DEFAULT_CONFIG_PATH);
    assert.deepEqual(
      cfg.targets.map((t) => t.id),
      ['openai-us-east-1', 'anthropic-eu-west-1', 'selfhosted-onprem'],
    );
    assert.ok(cfg.targets.every((t) => t.mock));
    assert.deepEqual(cfg.tiers.smart, ['gpt-4o', 'claude-sonnet-4']);
    assert.equal(cfg.targets[1].models[0].providerModel, 'claude-sonnet-4-20250514');
  });

  test('loadConfig() without an argument honours STORMPROOF_CONFIG', () => {
    const saved = process.env.STORMPROOF_CONFIG;
    try {
      process.env.STORMPROOF_CONFIG = EXAMPLE_PATH;
      assert.equal(loadConfig().targets[0].id, 'openai-us');
    } finally {
      if (saved === undefined) delete process.env.STORMPROOF_CONFIG;
      else process.env.STORMPROOF_CONFIG = saved;
    }
  });

  test('config/real-providers.example.yaml loads, with real endpoints and defaults filled', () => {
    const cfg = loadConfig(EXAMPLE_PATH);
    assert.deepEqual(
      cfg.targets.map((t) => [t.id, t.kind, t.mock]),
      [
        ['openai-us', 'openai', false],
        ['anthropic', 'anthropic', false],
        ['vllm-onprem', 'openai-compatible', false],
      ],
    );
    // Sections the example leaves out come from the schema defaults.
    assert.equal(cfg.api.port, 8080);
    assert.equal(cfg.temporal.address, '127.0.0.1:7233');
    assert.equal(cfg.retry.maxAttempts, 3);
    // Capabilities the example leaves out default too.
    assert.equal(cfg.targets[2].models[0].capabilities.tools, false);
    assert.equal(cfg.targets[2].models[0].capabilities.streaming, true);
  });

  test('the result is deeply frozen', () => {
    for (const p of [DEFAULT_CONFIG_PATH, EXAMPLE_PATH]) {
      const cfg = loadConfig(p);
      assertDeepFrozen(cfg);
      assert.throws(() => {
        (cfg.targets[0] as { priority: number }).priority = 1;
      }, TypeError);
      assert.throws(() => {
        (cfg.tiers.smart as string[]).push('x');
      }, TypeError);
    }
  });

  test('defaults are filled for a minimal config', () => {
    const cfg = parseConfig({ targets: [target()] });
    assert.deepEqual(cfg.api, {
      host: '127.0.0.1',
      port: 8080,
      bodyLimit: '1mb',
      internalTokenEnv: 'STORMPROOF_INTERNAL_TOKEN',
      eventsPollMs: 500,
    });
    assert.deepEqual(cfg.auth, { keys: [], keysEnv: 'STORMPROOF_API_KEYS', rateLimitPerMinute: 600, openHosts: [] });
    assert.deepEqual(cfg.batches, { concurrency: 4, maxItems: 500, pageSize: 50 });
    assert.deepEqual(cfg.callbacks, {
      secretEnv: 'STORMPROOF_CALLBACK_SECRET',
      maxAttempts: 10,
      initialIntervalMs: 1_000,
      maxIntervalMs: 300_000,
      timeoutMs: 10_000,
      allowedCidrs: [],
      allowHttp: false,
      maxUrlLength: 2048,
    });
    assert.deepEqual(cfg.limits, {
      jsonDepth: 64,
      ragQueryChars: 4_000,
      jobsInFlightPerKey: 500,
      batchesInFlightPerKey: 4,
      eventStreamsPerKey: 8,
      eventStreamMaxMs: 600_000,
      temporal: { callTimeoutMs: 5_000, retries: 1, breakerFailures: 5, breakerOpenMs: 5_000 },
    });
    assert.deepEqual(cfg.codec, {
      keysEnv: 'STORMPROOF_CODEC_KEYS',
      required: false,
      corsOrigins: ['http://127.0.0.1:8233', 'http://localhost:8233'],
    });
    assert.deepEqual(cfg.worker, { metricsPort: 9464, metricsHost: '127.0.0.1' });
    assert.deepEqual(cfg.temporal, {
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'stormproof',
      embedded: true,
      uiPort: 8233,
      dataDir: '.data',
      workflowIdPrefix: '',
    });
    assert.deepEqual(cfg.tiers, {});
    assert.deepEqual(cfg.routing, {
      strategy: 'priority',
      allowDegradation: true,
      flushIntervalMs: 1_000,
      refreshIntervalMs: 500,
      quotaShare: 'auto',
      quotaShareRefreshMs: 10_000,
      hedgeAfterMs: 'auto',
      hedgeMinMs: 1_000,
      hedgeMaxMs: 15_000,
      hedgeLatencyMultiple: 3,
    });
    assert.equal(cfg.breaker.windowMs, 300_000);
    assert.equal(cfg.breaker.errorRateThreshold, 0.3);
    assert.equal(cfg.breaker.probes, true);
    assert.deepEqual(cfg.timeouts, { callMs: 30_000, requestMs: 60_000, streamMs: 300_000, streamIdleMs: 15_000, heartbeatMs: 10_000 });
    assert.deepEqual(cfg.retry, { maxAttempts: 3, initialIntervalMs: 200, backoffCoefficient: 2, maxIntervalMs: 2_000, maxRetryAfterS: 5 });
    const t = cfg.targets[0];
    assert.equal(t.region, 'unknown');
    assert.equal(t.mock, false);
    assert.equal(t.priority, 100);
    assert.equal(t.weight, 1);
    assert.equal(t.apiKeyEnv, undefined);
    assert.deepEqual(t.limits, {});
    assert.deepEqual(t.models[0], {
      id: 'gpt-4o',
      capabilities: { tools: false, vision: false, json: false, streaming: true, contextWindow: 8192 },
      pricePerMTok: { input: 0, output: 0 },
    });
    assertDeepFrozen(cfg);
  });

  test('parseConfig agrees with GatewayConfigSchema on a valid config', () => {
    const raw = { targets: [target({ priority: 5 })], tiers: { smart: ['gpt-4o'] } };
    assert.deepEqual(parseConfig(raw), GatewayConfigSchema.parse(raw));
  });
});

describe('parseConfig: bad configs name the key and the fix', () => {
  const cases: Array<{ name: string; raw: unknown; expect: RegExp[] }> = [
    { name: 'missing targets', raw: {}, expect: [/^targets: /, /configure at least one target/] },
    { name: 'empty targets', raw: { targets: [] }, expect: [/^targets: /, /configure at least one target/] },
    {
      name: 'bad baseUrl',
      raw: { targets: [target({ id: 'my-target', baseUrl: 'not a url' })] },
      expect: [/targets\[0\]\.baseUrl/, /"my-target"/, /must be an http\(s\) URL, e\.g\. http:\/\//],
    },
    {
      name: 'non-http baseUrl',
      raw: { targets: [target({ id: 'my-target', baseUrl: 'ftp://example.com/v1' })] },
      expect: [/targets\[0\]\.baseUrl \(target "my-target"\)/, /must be an http\(s\) URL/],
    },
    {
      name: 'bad target id',
      raw: { targets: [target({ id: 'OpenAI_US' })] },
      expect: [/targets\[0\]\.id/, /"OpenAI_US"/, /lowercase letters, digits and dashes, e\.g\. openai-us-east-1/],
    },
    {
      name: 'duplicate target id',
      raw: { targets: [target({ id: 'dup' }), target({ id: 'dup' })] },
      expect: [/targets\[1\]\.id/, /duplicate target id "dup"/],
    },
    {
      name: 'unknown top-level key (typo)',
      raw: { targets: [target()], tier: {} },
      expect: [/\(root\)/, /unknown key\(s\) "tier"/, /remove or fix the spelling/],
    },
    {
      name: 'unknown key in a target (typo)',
      raw: { targets: [target({ id: 'typo-target', prioritty: 1 })] },
      expect: [/targets\[0\] \(target "typo-target"\)/, /unknown key\(s\) "prioritty"/, /fix the spelling/],
    },
    {
      name: 'unknown key in a section (typo)',
      raw: { targets: [target()], retry: { maxAttemps: 2 } },
      expect: [/^retry: /, /"maxAttemps"/],
    },
    {
      name: 'tier naming a model no target serves',
      raw: { targets: [target()], tiers: { smart: ['gpt-4o', 'claude-sonnet-4'] } },
      expect: [/tiers\.smart\[1\]/, /"claude-sonnet-4" is served by no target/, /add it to a target's models or remove it/],
    },
    {
      name: 'tier named like a model',
      raw: { targets: [target()], tiers: { 'gpt-4o': ['gpt-4o'] } },
      expect: [/tiers\.gpt-4o/, /pick another name/],
    },
    {
      name: 'negative priority',
      raw: { targets: [target({ id: 'neg', priority: -1 })] },
      expect: [/targets\[0\]\.priority \(target "neg"\)/, />=0/],
    },
    {
      name: 'bad temporal.address',
      raw: { targets: [target()], temporal: { address: 'localhost' } },
      expect: [/temporal\.address/, /use host:port, e\.g\. 127\.0\.0\.1:7233/],
    },
    {
      name: 'bad apiKeyEnv (a key instead of a variable name)',
      raw: { targets: [target({ id: 'leaky', apiKeyEnv: 'sk-abc123' })] },
      expect: [/targets\[0\]\.apiKeyEnv \(target "leaky"\)/, /name an environment variable, e\.g\. OPENAI_API_KEY/],
    },
    { name: 'unknown target kind', raw: { targets: [target({ id: 'k', kind: 'gemini' })] }, expect: [/targets\[0\]\.kind \(target "k"\)/] },
    {
      name: 'target without models',
      raw: { targets: [target({ id: 'empty', models: [] })] },
      expect: [/targets\[0\]\.models \(target "empty"\)/, /at least one model/],
    },
    { name: 'bad api.port', raw: { targets: [target()], api: { port: 70000 } }, expect: [/^api\.port: /] },
    {
      name: 'negative api.port',
      raw: { targets: [target()], api: { port: -1 } },
      expect: [/^api\.port: /, /use 1-65535, or 0 for any free port/],
    },
    { name: 'bad routing strategy', raw: { targets: [target()], routing: { strategy: 'fastest' } }, expect: [/^routing\.strategy: /] },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const problems = problemsOf(c.raw);
      const text = problems.join('\n');
      for (const re of c.expect) assert.match(text, re, `problems:\n${text}`);
    });
  }

  test('every problem is reported, one per line', () => {
    const problems = problemsOf({
      targets: [target({ id: 'a', priority: -1 }), target({ id: 'a', baseUrl: 'nope' })],
      temporal: { address: 'x' },
      tiers: { smart: ['missing'] },
    });
    assert.equal(problems.length, 5, problems.join('\n'));
    for (const key of ['targets[0].priority', 'targets[1].baseUrl', 'targets[1].id', 'temporal.address', 'tiers.smart[0]']) {
      assert.ok(
        problems.some((p) => p.startsWith(key)),
        `no problem for ${key}:\n${problems.join('\n')}`,
      );
    }
  });

  test('a target without a string id is named by index only', () => {
    const problems = problemsOf({ targets: [target({ id: 42 })] });
    assert.match(problems[0], /^targets\[0\]\.id: /);
    assert.doesNotMatch(problems[0], /\(target /);
  });
});

describe('loadConfig: files', () => {
  test('invalid YAML names the file and says so', () => {
    const p = writeTmp('broken.yaml', 'targets:\n  - id: a\n   kind: [openai\n');
    assert.throws(
      () => loadConfig(p),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.source, p);
        assert.match(err.message, /not valid YAML/);
        assert.ok(err.message.includes(p));
        return true;
      },
    );
  });

  test('a missing file names the path and the fix', () => {
    const p = join(tmp, 'does-not-exist.yaml');
    assert.throws(
      () => loadConfig(p),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.includes(p));
        assert.match(err.message, /cannot read the file/);
        assert.match(err.message, /set STORMPROOF_CONFIG/);
        return true;
      },
    );
  });

  test('schema problems in a file name the file and the key', () => {
    const p = writeTmp('bad-url.yaml', 'targets:\n  - id: t1\n    kind: openai\n    baseUrl: nope\n    models: [{ id: m }]\n');
    assert.throws(
      () => loadConfig(p),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.startsWith(`invalid config ${p}:`));
        assert.match(err.message, /targets\[0\]\.baseUrl \(target "t1"\)/);
        return true;
      },
    );
  });

  test('a valid file loads', () => {
    const p = writeTmp(
      'ok.yaml',
      'targets:\n  - id: t1\n    kind: anthropic\n    baseUrl: https://api.anthropic.com\n    models: [{ id: claude }]\n',
    );
    const cfg = loadConfig(p);
    assert.equal(cfg.targets[0].kind, 'anthropic');
    assertDeepFrozen(cfg);
  });
});

describe('checkEnvironment', () => {
  test('reports each missing apiKeyEnv of a non-mock target, naming the key and the variable', () => {
    const cfg = loadConfig(EXAMPLE_PATH);
    assert.throws(
      () => checkEnvironment(cfg, {}, 'example.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.source, 'example.yaml');
        assert.equal(err.problems.length, 3);
        assert.match(err.problems[0], /^targets\[0\]\.apiKeyEnv \(target "openai-us"\): environment variable OPENAI_API_KEY is not set/);
        assert.match(err.problems[1], /^targets\[1\]\.apiKeyEnv \(target "anthropic"\): .*ANTHROPIC_API_KEY/);
        assert.match(err.problems[2], /^targets\[2\]\.apiKeyEnv \(target "vllm-onprem"\): .*VLLM_API_KEY/);
        for (const p of err.problems) assert.match(p, /export it or set mock: true/);
        return true;
      },
    );
  });

  test('only the variables that are missing are reported', () => {
    const cfg = loadConfig(EXAMPLE_PATH);
    assert.throws(
      () => checkEnvironment(cfg, { OPENAI_API_KEY: 'sk-x', VLLM_API_KEY: 'v' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems.length, 1);
        assert.match(err.problems[0], /targets\[1\]\.apiKeyEnv.*ANTHROPIC_API_KEY/);
        return true;
      },
    );
  });

  test('an empty variable counts as missing', () => {
    const cfg = loadConfig(EXAMPLE_PATH);
    assert.throws(
      () => checkEnvironment(cfg, { OPENAI_API_KEY: '', ANTHROPIC_API_KEY: 'a', VLLM_API_KEY: 'v' }),
      /OPENAI_API_KEY is not set/,
    );
  });

  test('passes when every variable is set', () => {
    const cfg = loadConfig(EXAMPLE_PATH);
    assert.doesNotThrow(() => checkEnvironment(cfg, { OPENAI_API_KEY: 'a', ANTHROPIC_API_KEY: 'b', VLLM_API_KEY: 'c' }));
  });

  test('mock targets and targets without apiKeyEnv need no variable', () => {
    assert.doesNotThrow(() => checkEnvironment(loadConfig(DEFAULT_CONFIG_PATH), {}));
    assert.doesNotThrow(() => checkEnvironment(parseConfig({ targets: [target()] }), {}));
  });
});

test('security settings are validated at start-up, naming the key', () => {
  const target = { id: 'a', kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'm' }] };
  assert.throws(() => parseConfig({ targets: [target], callbacks: { allowedCidrs: ['10.0.0.0/33'] } }), /callbacks\.allowedCidrs\[0\]/);
  assert.throws(() => parseConfig({ targets: [target], callbacks: { allowedCidrs: ['localhost'] } }), /CIDR/);
  assert.throws(() => parseConfig({ targets: [target], limits: { jsonDepth: 2 } }), /limits\.jsonDepth/);
  assert.throws(() => parseConfig({ targets: [target], batches: { maxItems: 501 } }), /batches\.maxItems/);
  assert.throws(() => parseConfig({ targets: [target], codec: { keysEnv: 'lower-case' } }), /codec\.keysEnv/);
  assert.deepEqual(parseConfig({ targets: [target], callbacks: { allowedCidrs: ['10.1.2.0/24', 'fd00::/8'] } }).callbacks.allowedCidrs, [
    '10.1.2.0/24',
    'fd00::/8',
  ]);
});
