/**
 * An HTTP proxy in front of a mock provider that answers 400, in the provider's own error shape, to
 * the request bodies `refuse` picks: a provider that allows no continuation of a partial answer
 * (e.g. a model without assistant prefill), while the mock behind it serves everything else.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A refusing proxy: set `refuse` to pick the bodies it answers 400 to (none by default). */
export interface RefusingProxy {
  refuse: (body: string) => boolean;
  /** Puts the proxy in front of `upstream` (a target's base URL); returns the base URL to use instead. */
  front(upstream: string, kind: string): string;
  close(): Promise<void>;
}

/** Starts a proxy on a free port; `front` points it at a target. */
export async function refusingProxy(): Promise<RefusingProxy> {
  let upstream: URL | undefined;
  let kind = 'openai';
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      if (proxy.refuse(body.toString('utf8'))) {
        const message = 'This model does not support continuing a partial assistant message.';
        const payload =
          kind === 'anthropic'
            ? { type: 'error', error: { type: 'invalid_request_error', message } }
            : { error: { message, type: 'invalid_request_error', param: 'messages', code: null } };
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        return;
      }
      const up = request(
        { host: upstream!.hostname, port: upstream!.port, method: req.method, path: req.url, headers: req.headers },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxy: RefusingProxy = {
    refuse: () => false,
    front(url, k) {
      upstream = new URL(url);
      kind = k;
      return `http://127.0.0.1:${port}${upstream.pathname}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
