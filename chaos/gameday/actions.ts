/**
 * A scenario's actions on a game-day stack: executing each (mock faults, toxics, proxies, worker
 * kills, restarts, breaker overrides), the fault windows they opened, and the rollbacks and full
 * reset that end every run.
 */
import type { BreakerAction } from '../../contracts/breaker';
import { ToxiproxyError } from '../toxiproxy/client';
import type { ActionLog, FaultWindow } from './records';
import type { Action, Scenario } from './schema';
import type { GamedayStack } from './stack';

/** A short label of an action. */
export function labelOf(a: Action): string {
  switch (a.action) {
    case 'mock-faults':
      return `mock-faults ${a.target} ${JSON.stringify(a.faults)}`;
    case 'toxic':
      return `toxic ${a.target} ${a.type} ${JSON.stringify(a.attributes)} (${a.stream}${a.toxicity < 1 ? `, toxicity ${a.toxicity}` : ''})`;
    case 'toxic-remove':
      return `toxic-remove ${a.target} ${a.name}`;
    case 'kill-worker':
    case 'start-worker':
      return `${a.action} #${a.index}`;
    case 'restart-temporal':
    case 'restart-api':
      return `${a.action}${a.downS ? ` (down ${a.downS} s)` : ''}`;
    case 'breaker-override':
      return `breaker-override ${a.target} ${a.state}`;
    default:
      return `${a.action} ${a.target}`;
  }
}

const toxicName = (a: Extract<Action, { action: 'toxic' }>) => a.name ?? `${a.type}_${a.stream}`;

function mockOf(stack: GamedayStack, target: string) {
  const mock = stack.targets[target].mock;
  if (!mock) throw new Error(`${target} is a real upstream: it has no mock faults (use toxics or proxy-down)`);
  return mock;
}

/** Runs one action on the stack. */
export async function execute(stack: GamedayStack, a: Action): Promise<void> {
  switch (a.action) {
    case 'mock-faults':
      return mockOf(stack, a.target).setFaults(a.faults);
    case 'mock-clear':
      return mockOf(stack, a.target).clearFaults();
    case 'toxic':
      await stack.toxiproxy.client.addToxic(a.target, {
        name: toxicName(a),
        type: a.type,
        stream: a.stream,
        toxicity: a.toxicity,
        attributes: a.attributes as never,
      });
      return;
    case 'toxic-remove':
      return removeToxic(stack, a.target, a.name);
    case 'proxy-down':
      await stack.toxiproxy.client.setEnabled(a.target, false);
      return;
    case 'proxy-up':
      await stack.toxiproxy.client.setEnabled(a.target, true);
      return;
    case 'kill-worker':
      return stack.killWorker(a.index);
    case 'start-worker':
      return stack.startWorker(a.index);
    case 'restart-temporal':
      return stack.restartTemporal(a.downS * 1000);
    case 'restart-api':
      return stack.restartApi(a.downS * 1000);
    case 'breaker-override':
      return stack.overrideBreaker(a.target, a.state as BreakerAction);
  }
}

/**
 * Removes a toxic. toxiproxy's API can time out (503) while a latency toxic drains the data it
 * holds; then it is asked again until the toxic is gone (or 5 tries failed).
 */
async function removeToxic(stack: GamedayStack, proxy: string, name: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await stack.toxiproxy.client.removeToxic(proxy, name);
    } catch (err) {
      if (err instanceof ToxiproxyError && err.status === 404 && i > 0) return; // an earlier try removed it
      if (!(err instanceof ToxiproxyError) || err.status === 404 || i >= 4) throw err;
      const p = await stack.toxiproxy.client.getProxy(proxy).catch(() => undefined);
      if (p && !p.toxics.some((t) => t.name === name)) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Fault windows from the executed method: each injection until its removal (or the load's end). */
export function faultWindows(actions: Array<{ a: Action; log: ActionLog }>, loadEndMs: number): FaultWindow[] {
  const open = new Map<string, { start: number; label: string }>();
  const out: FaultWindow[] = [];
  const close = (key: string, at: number) => {
    const o = open.get(key);
    if (o) out.push({ start: o.start, end: at, label: o.label });
    open.delete(key);
  };
  for (const { a, log } of actions) {
    // A failed action changed nothing we know of: a failed removal leaves its fault in place.
    if (!log.ok) continue;
    const label = labelOf(a);
    switch (a.action) {
      case 'mock-faults':
        close(`mock:${a.target}`, log.at);
        open.set(`mock:${a.target}`, { start: log.at, label });
        break;
      case 'mock-clear':
        close(`mock:${a.target}`, log.at);
        break;
      case 'toxic':
        open.set(`toxic:${a.target}:${toxicName(a)}`, { start: log.at, label });
        break;
      case 'toxic-remove':
        close(`toxic:${a.target}:${a.name}`, log.at);
        break;
      case 'proxy-down':
        if (!open.has(`proxy:${a.target}`)) open.set(`proxy:${a.target}`, { start: log.at, label });
        break;
      case 'proxy-up':
        close(`proxy:${a.target}`, log.at);
        break;
      case 'kill-worker':
        open.set(`worker:${a.index}`, { start: log.at, label });
        break;
      case 'start-worker':
        close(`worker:${a.index}`, log.doneAt);
        break;
      case 'restart-temporal':
      case 'restart-api':
        out.push({ start: log.at, end: log.doneAt, label });
        break;
      case 'breaker-override':
        close(`breaker:${a.target}`, log.at);
        if (a.state === 'open') open.set(`breaker:${a.target}`, { start: log.at, label });
        break;
    }
  }
  for (const key of [...open.keys()]) close(key, loadEndMs);
  return out.sort((x, y) => x.start - y.start);
}

/** Rollbacks (always), then a full reset: toxics removed, proxies enabled, mock faults cleared, workers back. */
export async function rollback(
  stack: GamedayStack,
  scenario: Scenario,
  executed: Array<{ a: Action; log: ActionLog }>,
  now: () => number,
  say: (l: string) => void,
): Promise<void> {
  for (const a of scenario.rollbacks) {
    const log: ActionLog = { at: now(), doneAt: 0, action: a.action, label: labelOf(a), phase: 'rollback', ok: true };
    try {
      await execute(stack, a);
    } catch (err) {
      // Rolling back what the method already undid is fine.
      if (a.action === 'toxic-remove' && err instanceof ToxiproxyError && err.status === 404) log.label += ' (already removed)';
      else {
        log.ok = false;
        log.error = (err as Error).message;
      }
    }
    log.doneAt = now();
    executed.push({ a, log });
  }
  const log: ActionLog = {
    at: now(),
    doneAt: 0,
    action: 'reset',
    label: 'full reset (toxics, proxies, mock faults, workers)',
    phase: 'rollback',
    ok: true,
  };
  try {
    await stack.resetFaults();
    for (let i = 0; i < stack.workers.length; i++) await stack.startWorker(i);
  } catch (err) {
    log.ok = false;
    log.error = (err as Error).message;
    say(`[gameday] reset failed: ${log.error}`);
  }
  log.doneAt = now();
  executed.push({ a: { action: 'mock-clear', target: '', at: 0 } as Action, log });
}
