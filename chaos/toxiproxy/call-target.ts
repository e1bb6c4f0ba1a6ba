/**
 * `node --import tsx chaos/toxiproxy/call-target.ts <config.yaml> <target id> [model]`: one call
 * of the target through the gateway's own provider adapter, as a worker makes it (same config
 * validation, same API key variable, same TLS trust: NODE_EXTRA_CA_CERTS). Prints one JSON line,
 * `{ ok: true, target, model, content }` or `{ ok: false, type, message }`, and exits 0 or 1.
 * Used to check a game day's wiring (a target pointed at a toxiproxy proxy) before the drill.
 */
import { ADAPTERS, classifyProviderError } from '../../activities/providers';
import { loadConfig } from '../../config/load';

/** The codes (or messages) of an error's causes, outermost first: `fetch failed` hides the TLS or socket error. */
function causes(err: unknown): string[] {
  const out: string[] = [];
  for (let c = (err as { cause?: unknown }).cause; c && out.length < 5; c = (c as { cause?: unknown }).cause) {
    const e = c as { code?: string; message?: string };
    out.push(e.code ? `${e.code}: ${e.message ?? ''}` : (e.message ?? String(c)));
  }
  return out;
}

async function main(): Promise<number> {
  const [path, targetId, modelId] = process.argv.slice(2);
  if (!path || !targetId) {
    process.stderr.write('usage: node --import tsx chaos/toxiproxy/call-target.ts <config.yaml> <target id> [model]\n');
    return 2;
  }
  const config = loadConfig(path);
  const target = config.targets.find((t) => t.id === targetId);
  if (!target) throw new Error(`no target "${targetId}" in ${path}; known: ${config.targets.map((t) => t.id).join(', ')}`);
  const model = modelId ? target.models.find((m) => m.id === modelId) : target.models[0];
  if (!model) throw new Error(`target ${targetId} serves no model "${modelId}"`);
  const key = (target.apiKeyEnv && process.env[target.apiKeyEnv]) || 'mock-key';
  const adapter = ADAPTERS[target.kind](target, key);
  try {
    const r = await adapter.complete({
      target,
      model,
      request: { model: model.id, messages: [{ role: 'user', content: 'ping' }], max_tokens: 16 },
      signal: AbortSignal.timeout(config.timeouts.callMs),
    });
    process.stdout.write(`${JSON.stringify({ ok: true, target: r.target, model: r.model, content: r.message.content })}\n`);
    return 0;
  } catch (err) {
    const f = classifyProviderError(err, 1, config.retry.maxRetryAfterS);
    const message = [f.message, ...causes(err)].join(' — ');
    process.stdout.write(`${JSON.stringify({ ok: false, type: f.type, message })}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  },
);
