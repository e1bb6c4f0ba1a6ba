/**
 * An HTTPS "provider" for proving toxiproxy in front of TLS: a throwaway CA and a server
 * certificate made with the `openssl` CLI, and a TLS server that, like a real provider behind a
 * CDN, refuses a handshake for a host name it does not serve (SNI) and passes the decrypted bytes
 * to an HTTP upstream (a mock provider). toxiproxy stays at the TCP level in between: TLS goes
 * through it untouched, end to end between the gateway and this server.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';

/** PEM files of a test CA and a server certificate it signed. */
export interface TestCertificates {
  /** The CA certificate: what a client must trust (e.g. NODE_EXTRA_CA_CERTS). */
  caFile: string;
  key: string;
  cert: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new Error('the openssl CLI is needed to make test certificates; install it (e.g. apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** Makes a CA and a certificate for `host` (DNS name in subjectAltName) in `dir`. */
export function makeTestCertificates(dir: string, host: string): TestCertificates {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Stormproof game-day test CA',
    ],
    dir,
  );
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${host}`], dir);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=DNS:${host}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  return {
    caFile: join(dir, 'ca.pem'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
  };
}

/** A running TLS server in front of an HTTP upstream. */
export interface TlsFront {
  port: number;
  /** The SNI name of each handshake attempted (undefined: the client sent none). */
  serverNames: Array<string | undefined>;
  /** Handshakes that completed. */
  handshakes: number;
  /** The Host header of each connection's first HTTP request. */
  hostHeaders: string[];
  close(): Promise<void>;
}

/** Starts a TLS server for `host` on 127.0.0.1 that pipes each connection to `upstreamPort`. */
export async function startTlsFront(opts: { host: string; key: string; cert: string; upstreamPort: number }): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const context = tls.createSecureContext({ key: opts.key, cert: opts.cert });
  const front: TlsFront = { port: 0, serverNames: [], handshakes: 0, hostHeaders: [], close: async () => undefined };
  const server = tls.createServer({
    SNICallback: (name, cb) => {
      front.serverNames.push(name);
      // A host this server does not serve gets no certificate: the handshake fails, as at a CDN.
      if (name === opts.host) cb(null, context);
      else cb(new Error(`no certificate for ${name}`));
    },
  });
  server.on('secureConnection', (client) => {
    front.handshakes++;
    sockets.add(client);
    const up = net.connect(opts.upstreamPort, '127.0.0.1');
    sockets.add(up);
    client.once('data', (d: Buffer) => {
      const host = /\r\nhost: *([^\r\n]+)/i.exec(d.toString('latin1'))?.[1];
      if (host) front.hostHeaders.push(host);
    });
    client.pipe(up).pipe(client);
    const drop = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  // A handshake without SNI never reaches SNICallback: count it too.
  server.on('tlsClientError', (_err, s) => {
    if (!(s as tls.TLSSocket).servername) front.serverNames.push(undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  front.port = (server.address() as net.AddressInfo).port;
  front.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return front;
}
