/**
 * The Prometheus side of monitoring/: both configs and the rules pass `promtool check`, the rule
 * unit tests pass `promtool test rules`, every alert is proven to fire by at least one of them,
 * and every alert has its runbook section in the README.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const DIR = resolve(__dirname, 'prometheus');
const ROOT = resolve(__dirname, '..');

function promtool(args: string[]): string {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it): ${r.error.message}`);
  assert.equal(r.status, 0, `promtool ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

const testFiles = readdirSync(join(DIR, 'tests'))
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => join('tests', f));
const alerts: Array<{ alert: string; labels: { severity: string }; annotations: Record<string, string> }> = parse(
  readFileSync(join(DIR, 'rules', 'alerts.yml'), 'utf8'),
).groups.flatMap((g: { rules: unknown[] }) => g.rules);

test('both Prometheus configs (compose and embedded) and their rule files are valid', () => {
  for (const config of ['prometheus-compose.yml', 'prometheus-embedded.yml'])
    assert.match(promtool(['check', 'config', config]), /SUCCESS/);
});

test('recording rules follow level:metric:operations', () => {
  const groups = parse(readFileSync(join(DIR, 'rules', 'recording.yml'), 'utf8')).groups as Array<{ rules: Array<{ record: string }> }>;
  const names = groups.flatMap((g) => g.rules.map((r) => r.record));
  assert.ok(names.length > 10);
  for (const name of names) assert.match(name, /^[a-z_]+:stormproof_[a-z0-9_]+:[a-z0-9_]+$/, name);
});

test('promtool test rules: every rule unit test passes', () => {
  assert.match(promtool(['test', 'rules', ...testFiles]), /SUCCESS/);
});

test('every alert is shown to fire by a unit test, and has a severity and a runbook in the README', () => {
  const fired = new Set<string>();
  for (const f of testFiles) {
    for (const t of parse(readFileSync(join(DIR, f), 'utf8')).tests) {
      for (const a of t.alert_rule_test ?? []) if (a.exp_alerts?.length) fired.add(a.alertname);
    }
  }
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(alerts.length >= 9);
  for (const a of alerts) {
    assert.ok(fired.has(a.alert), `no unit test shows ${a.alert} firing`);
    assert.ok(['page', 'ticket'].includes(a.labels.severity), `${a.alert}: severity page or ticket`);
    assert.equal(a.annotations.runbook, `README.md#${a.alert.toLowerCase()}`);
    assert.match(readme, new RegExp(`^#### ${a.alert}$`, 'm'), `README has no "#### ${a.alert}" runbook section`);
  }
});
