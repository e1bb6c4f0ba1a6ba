/** Checks that the ports the stack needs are free, naming the config key that sets each. */
import { createServer } from 'node:net';

export async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Throws one message listing every busy port and the key to change. */
export async function assertPortsFree(ports: Array<{ port: number; host: string; key: string }>): Promise<void> {
  const busy: string[] = [];
  for (const p of ports) {
    if (p.port > 0 && !(await portFree(p.port, p.host))) busy.push(`  - ${p.host}:${p.port} (${p.key}) is in use`);
  }
  if (busy.length) {
    throw new Error(
      `cannot start: ports in use\n${busy.join('\n')}\n` +
        `Is a previous Stormproof still running? Stop it (Ctrl-C in its terminal, or kill the pid in .data/stack.pid), or change the keys above in your config.`,
    );
  }
}
