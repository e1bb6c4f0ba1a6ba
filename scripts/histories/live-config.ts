/** The live config workflow (config reloads without a restart): the histories it leaves. */
import { liveConfigIdFor } from '../../shared/live-config';
import type { Scenario } from './scenario';

export const liveConfigScenarios: Scenario[] = [
  {
    name: 'live-config',
    describe: 'two reloads through PUT /v1/admin/config (a weight, then a breaker setting) and one refused by the version check',
    fixtures: ['live-config-reloads'],
    async run(ctx) {
      const s = await ctx.fresh();
      const first = await s.api('/v1/admin/config');
      const config = structuredClone(first.body.config);
      config.targets[0].weight = 5;
      const one = await s.api('/v1/admin/config', { method: 'PUT', json: config, headers: { 'if-match': '"0"' } });
      if (one.status !== 200) throw new Error(`first reload answered ${one.status}: ${JSON.stringify(one.body)}`);
      config.breaker.consecutiveFailures = 7;
      const stale = await s.api('/v1/admin/config', { method: 'PUT', json: config, headers: { 'if-match': '"0"' } });
      if (stale.status !== 409) throw new Error(`a stale reload answered ${stale.status}`);
      const two = await s.api('/v1/admin/config', { method: 'PUT', json: config, headers: { 'if-match': '"1"' } });
      if (two.status !== 200) throw new Error(`second reload answered ${two.status}: ${JSON.stringify(two.body)}`);
      await new Promise((r) => setTimeout(r, 300));
      await s.gateway.stop();
      return { 'live-config-reloads': { workflowId: liveConfigIdFor(s.config, s.gateway.taskQueue) } };
    },
  },
];
