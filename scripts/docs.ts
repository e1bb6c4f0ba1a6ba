/**
 * `npm run docs`: fills the snippet regions of the guides from marked regions of real source
 * files, so every snippet in the guide is code that runs. `npm run docs -- --check` changes
 * nothing and exits 1 when a snippet is stale or a region is missing (scripts/docs.test.ts runs
 * the same check in `npm test`).
 *
 * In a source file a region is the lines between `#region guide:<name>` and `#endregion` (in
 * any line comment: `// #region guide:plan-route`, `# #region guide:alerts`); marker lines of
 * other regions inside it are left out, and the common indentation is removed. In a guide a
 * snippet is everything between `<!-- snippet: <file>#<name> -->` and `<!-- /snippet -->`; the
 * script replaces it with the region as a fenced block and a line naming its file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');

/** The guides whose snippets this script keeps current. */
export const GUIDES = ['docs/guide.md', 'docs/guide.zh-CN.md'];

/** A problem with a guide or a source file, named by file and line. */
export class DocsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'DocsError';
  }
}

const REGION_START = /#region\s+guide:([A-Za-z0-9_.-]+)/;
const ANY_REGION_START = /#region\b/;
const REGION_END = /#endregion\b(?:\s+guide:([A-Za-z0-9_.-]+))?/;

/** Removes the indentation every non-blank line shares. */
export function dedent(lines: string[]): string[] {
  const indents = lines.filter((l) => l.trim()).map((l) => /^[ \t]*/.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => (l.trim() ? l.slice(cut) : ''));
}

/**
 * Every `guide:` region of one source file, by name: its text (dedented, without marker lines).
 * `file` names the source in errors. Throws on a region opened twice, never closed, or closed
 * with another region's name.
 */
export function extractRegions(text: string, file: string): Map<string, string> {
  const lines = text.split('\n');
  const open: Array<{ name?: string; line: number; body: string[] }> = [];
  const regions = new Map<string, string>();
  const problems: string[] = [];
  lines.forEach((line, i) => {
    const start = REGION_START.exec(line);
    const end = !start && REGION_END.exec(line);
    if (start || (!end && ANY_REGION_START.test(line))) {
      const name = start?.[1];
      if (name && (regions.has(name) || open.some((r) => r.name === name)))
        problems.push(`${file}:${i + 1}: region guide:${name} is defined twice`);
      open.push({ name, line: i + 1, body: [] });
      return;
    }
    if (end) {
      const top = open.pop();
      if (!top) problems.push(`${file}:${i + 1}: #endregion without a #region`);
      else if (end[1] && end[1] !== top.name)
        problems.push(
          `${file}:${i + 1}: #endregion guide:${end[1]} closes ${top.name ? `guide:${top.name}` : 'another region'} (line ${top.line})`,
        );
      else if (top.name)
        regions.set(
          top.name,
          dedent(top.body)
            .join('\n')
            .replace(/^\n+|\n+$/g, ''),
        );
      return;
    }
    for (const r of open) r.body.push(line);
  });
  for (const r of open) problems.push(`${file}:${r.line}: region ${r.name ? `guide:${r.name}` : ''} is never closed (#endregion)`);
  if (problems.length) throw new DocsError(problems);
  return regions;
}

const SNIPPET = /<!-- snippet: ([^#\s]+)#([A-Za-z0-9_.-]+) -->\n([\s\S]*?)<!-- \/snippet -->/g;
const FENCE_LANG: Record<string, string> = { '.ts': 'ts', '.yaml': 'yaml', '.yml': 'yaml', '.json': 'json', '.sh': 'sh' };

/** The Markdown a snippet region of `guide` holds for region `name` of `file` (paths from the repository root). */
export function renderSnippet(guide: string, file: string, code: string): string {
  const fence = code.includes('```') ? '````' : '```';
  const link = relative(join(ROOT, guide, '..'), join(ROOT, file));
  return `${fence}${FENCE_LANG[extname(file)] ?? ''}\n${code}\n${fence}\n<sub>[${file}](${link})</sub>\n`;
}

/** Reads a repository file (a seam for tests). */
export type ReadFile = (path: string) => string;
const readRepoFile: ReadFile = (p) => readFileSync(join(ROOT, p), 'utf8');

/**
 * The guide with every snippet region filled from its source. Problems (a missing file or region)
 * are collected for the whole guide, then thrown together.
 */
export function fillGuide(guide: string, text: string, read: ReadFile = readRepoFile): string {
  const cache = new Map<string, Map<string, string>>();
  const problems: string[] = [];
  const out = text.replace(SNIPPET, (whole, file: string, name: string) => {
    let regions = cache.get(file);
    if (!regions) {
      try {
        regions = extractRegions(read(file), file);
      } catch (err) {
        problems.push(
          err instanceof DocsError
            ? err.problems.join('\n')
            : `${guide}: snippet ${file}#${name}: cannot read ${file} (${(err as Error).message})`,
        );
        return whole;
      }
      cache.set(file, regions);
    }
    const code = regions.get(name);
    if (code === undefined) {
      problems.push(
        `${guide}: snippet ${file}#${name}: ${file} has no region guide:${name} (known: ${[...regions.keys()].join(', ') || 'none'})`,
      );
      return whole;
    }
    return `<!-- snippet: ${file}#${name} -->\n${renderSnippet(guide, file, code)}<!-- /snippet -->`;
  });
  const unclosed = text.split('<!-- snippet:').length - 1 - (text.match(SNIPPET)?.length ?? 0);
  if (unclosed > 0) problems.push(`${guide}: ${unclosed} snippet marker(s) without a matching <!-- /snippet --> or a file#region`);
  if (problems.length) throw new DocsError(problems);
  return out;
}

/** The snippets (file#region) a guide holds, in order. */
export function snippetsOf(text: string): string[] {
  return [...text.matchAll(SNIPPET)].map((m) => `${m[1]}#${m[2]}`);
}

/** A guide's text; a guide that cannot be read is a DocsError naming it. */
function readGuide(guide: string, read: ReadFile): string {
  try {
    return read(guide);
  } catch (err) {
    throw new DocsError([`${guide}: cannot read it (${(err as Error).message})`]);
  }
}

/** Guides whose snippets differ from their sources (empty when all are current). */
export function staleGuides(guides: string[] = GUIDES, read: ReadFile = readRepoFile): string[] {
  return guides.filter((g) => {
    const text = readGuide(g, read);
    return fillGuide(g, text, read) !== text;
  });
}

function main(): void {
  const check = process.argv.includes('--check');
  try {
    if (check) {
      const stale = staleGuides();
      if (stale.length) {
        process.stderr.write(`stale snippets in ${stale.join(', ')}: run npm run docs\n`);
        process.exit(1);
      }
      process.stdout.write(`[docs] ${GUIDES.join(', ')}: every snippet matches its source\n`);
      return;
    }
    for (const g of GUIDES) {
      const text = readGuide(g, readRepoFile);
      const filled = fillGuide(g, text);
      if (filled !== text) writeFileSync(join(ROOT, g), filled);
      process.stdout.write(`[docs] ${g}: ${snippetsOf(filled).length} snippet(s)${filled !== text ? ', updated' : ', current'}\n`);
    }
  } catch (err) {
    if (!(err instanceof DocsError)) throw err;
    process.stderr.write(`[docs] ${err.message}\n`);
    process.exit(1);
  }
}

if (require.main === module) main();
