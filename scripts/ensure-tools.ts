/**
 * `npm run tools`: installs every pinned external tool the project needs (Temporal CLI, toxiproxy) and prints their paths.
 */
import { ensureTemporalCli } from './ensure-temporal';
import { ensureToxiproxy } from './ensure-toxiproxy';

try {
  process.stdout.write(`temporal:  ${ensureTemporalCli()}\n`);
  process.stdout.write(`toxiproxy: ${ensureToxiproxy()}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
