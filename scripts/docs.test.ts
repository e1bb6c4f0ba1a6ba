/**
 * The guides stay true to the code: every snippet is its source region as it is today, every
 * `npm run` they show exists, every local link and image resolves, and the game-day figures sit in
 * one refreshable table per language. Plus the region parser's own rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DocsError, GUIDES, extractRegions, fillGuide, snippetsOf, staleGuides } from './docs';

const ROOT = resolve(__dirname, '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

test('every snippet in both guides matches its source region (run npm run docs after changing one)', () => {
  for (const g of GUIDES) assert.ok(snippetsOf(read(g)).length >= 8, `${g} holds its snippets`);
  assert.deepEqual(staleGuides(), [], 'stale snippets: run `npm run docs`');
});

test('both guides quote the same regions', () => {
  const [en, zh] = GUIDES.map((g) => snippetsOf(read(g)));
  assert.deepEqual(zh, en);
});

test('a snippet whose source changed is reported stale, and npm run docs restores it', () => {
  const files: Record<string, string> = {
    'src/a.ts': ['x();', '  // #region guide:one', '  const a = 1;', '  // #endregion', ''].join('\n'),
    'docs/g.md': [
      'intro',
      '<!-- snippet: src/a.ts#one -->',
      '```ts',
      'const a = 1;',
      '```',
      '<sub>[src/a.ts](../src/a.ts)</sub>',
      '<!-- /snippet -->',
      '',
    ].join('\n'),
  };
  const reader = (p: string) => files[p];
  assert.deepEqual(staleGuides(['docs/g.md'], reader), []);
  files['src/a.ts'] = files['src/a.ts'].replace('const a = 1;', 'const a = 2;');
  assert.deepEqual(staleGuides(['docs/g.md'], reader), ['docs/g.md']);
  const filled = fillGuide('docs/g.md', files['docs/g.md'], reader);
  assert.match(filled, /```ts\nconst a = 2;\n```/);
  files['docs/g.md'] = filled;
  assert.deepEqual(staleGuides(['docs/g.md'], reader), []);
});

test('a missing region or file fails with the guide, file and region named', () => {
  const reader = (p: string) => {
    if (p === 'src/a.ts') return '// #region guide:one\nconst a = 1;\n// #endregion\n';
    throw new Error('ENOENT');
  };
  const guide = '<!-- snippet: src/a.ts#two -->\n<!-- /snippet -->\n<!-- snippet: src/gone.ts#one -->\n<!-- /snippet -->\n';
  assert.throws(
    () => fillGuide('docs/g.md', guide, reader),
    (err: unknown) =>
      err instanceof DocsError &&
      /src\/a\.ts has no region guide:two \(known: one\)/.test(err.message) &&
      /cannot read src\/gone\.ts/.test(err.message),
  );
  assert.throws(() => fillGuide('docs/g.md', '<!-- snippet: src/a.ts#one -->\nno end\n', reader), /without a matching/);
});

test('regions: nested markers are left out, indentation is removed, names must balance', () => {
  const src = [
    '  // #region guide:outer',
    '  a();',
    '  // #region guide:inner',
    '    b();',
    '  // #endregion guide:inner',
    '  // #endregion',
    '# #region guide:yaml',
    'k: v',
    '# #endregion',
  ].join('\n');
  const r = extractRegions(src, 'x');
  assert.equal(r.get('outer'), 'a();\n  b();');
  assert.equal(r.get('inner'), 'b();');
  assert.equal(r.get('yaml'), 'k: v');
  assert.throws(() => extractRegions('// #region guide:a\n', 'f.ts'), /f\.ts:1: region guide:a is never closed/);
  assert.throws(() => extractRegions('// #region guide:a\n// #endregion guide:b\n', 'f.ts'), /f\.ts:2: #endregion guide:b closes guide:a/);
  assert.throws(() => extractRegions('// #region guide:a\n// #endregion\n// #region guide:a\n// #endregion\n', 'f.ts'), /defined twice/);
  assert.throws(() => extractRegions('// #endregion\n', 'f.ts'), /without a #region/);
});

/** The anchors GitHub gives a Markdown file: its headings' slugs and its `<a name>`s. */
function anchorsOf(markdown: string): Set<string> {
  const body = markdown.replace(/```[\s\S]*?```/g, '');
  const slugs = [...body.matchAll(/^#{1,6} (.+)$/gm)].map(([, h]) =>
    h
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
      .replace(/ /g, '-'),
  );
  return new Set([...slugs, ...[...body.matchAll(/<a name="([^"]+)"><\/a>/g)].map((m) => m[1])]);
}

test('every npm script the guides run exists, and every local link, anchor and image resolves', () => {
  const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
  for (const g of GUIDES) {
    const text = read(g);
    for (const [, name] of text.matchAll(/npm run ([a-z:-]+)/g))
      assert.ok(scripts.includes(name), `${g}: npm run ${name} is not a script in package.json`);
    for (const [, target, anchor] of text.matchAll(/\]\(([^)\s#]*)(?:#([^)\s]*))?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const file = target ? join(dirname(g), target) : g;
      assert.ok(existsSync(join(ROOT, file)), `${g}: link ${target} does not resolve`);
      if (anchor && file.endsWith('.md')) assert.ok(anchorsOf(read(file)).has(anchor), `${g}: ${file} has no anchor #${anchor}`);
    }
    for (const [, scenario] of text.matchAll(/(chaos\/scenarios\/[a-z0-9-]+\.yaml)/g))
      assert.ok(existsSync(join(ROOT, scenario)), `${g}: ${scenario} does not exist`);
  }
});

test('each guide keeps its game-day figures in one marked table (refreshed in one place)', () => {
  for (const g of GUIDES) {
    const text = read(g);
    const regions = [...text.matchAll(/<!-- figures:gameday -->\n([\s\S]*?)<!-- \/figures:gameday -->/g)];
    assert.equal(regions.length, 1, `${g}: exactly one figures:gameday region`);
    const rows = regions[0][1].split('\n').filter((l) => l.startsWith('|'));
    assert.ok(rows.length >= 4, `${g}: the figures region holds a table`);
    for (const row of rows.slice(2)) assert.match(row, /npm run gameday/, `${g}: a figure without the command that produced it: ${row}`);
    for (const row of rows.slice(2)) assert.match(row, /20\d\d-\d\d-\d\d/, `${g}: a figure without its date: ${row}`);
  }
});
