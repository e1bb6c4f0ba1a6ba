/** Where the generated dashboard lives, and its exact text (what the test compares). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildDashboard } from './dashboard';

export const DASHBOARD_PATH = resolve(__dirname, 'dashboards', 'stormproof.json');

/** The dashboard as committed: pretty JSON with a trailing newline. */
export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

/** Every panel of a dashboard JSON (default: the committed one) with its queries; rows excluded. */
export function panelQueries(json = readFileSync(DASHBOARD_PATH, 'utf8')): Array<{ title: string; exprs: string[] }> {
  const panels = (JSON.parse(json) as { panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> }).panels.filter(
    (p) => p.type !== 'row',
  );
  return panels.map((p) => ({ title: p.title, exprs: (p.targets ?? []).map((t) => t.expr) }));
}
