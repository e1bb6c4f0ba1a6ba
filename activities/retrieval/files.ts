/** Documents from files and folders (for the ingest CLI and the sample collection). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import type { IngestDocument } from '../../contracts/retrieval';

/** Extensions read from folders (a file named explicitly is read whatever its extension). */
export const TEXT_EXTENSIONS = new Set(['.md', '.markdown', '.mdx', '.txt', '.rst', '.adoc']);

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (TEXT_EXTENSIONS.has(extname(name).toLowerCase())) out.push(p);
  }
}

/**
 * The files under `paths` (folders recursively, text extensions only) as documents whose source
 * and id are the path relative to `base` (default: the working directory).
 */
export function readDocuments(paths: readonly string[], base = process.cwd()): IngestDocument[] {
  const files: string[] = [];
  for (const p of paths) {
    const abs = resolve(base, p);
    if (statSync(abs).isDirectory()) walk(abs, files);
    else files.push(abs);
  }
  return files.map((f) => ({ source: relative(base, f) || f, text: readFileSync(f, 'utf8') })).filter((d) => d.text.trim() !== '');
}
