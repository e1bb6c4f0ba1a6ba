/** `npm run dashboard`: writes the dashboard JSON that Grafana provisions (see dashboard.ts). */
import { writeFileSync } from 'node:fs';
import { dashboardJson, DASHBOARD_PATH } from './dashboard-file';

writeFileSync(DASHBOARD_PATH, dashboardJson());
process.stdout.write(`wrote ${DASHBOARD_PATH}\n`);
