/**
 * The outbound-URL guard for every URL a user can hand the gateway (callbacks): the URL is
 * checked for its shape at submission, then resolved once at delivery; every resolved address
 * must be public (or inside a range the config allows), and the connection is made to exactly
 * that address (no second lookup a rebinding DNS server could answer differently). Redirects are
 * never followed. Loopback, private, link-local (cloud metadata), CGNAT, multicast, reserved and
 * translation ranges are refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** What the config allows (from `callbacks`). */
export interface OutboundPolicy {
  /** CIDR ranges allowed although they are not public. */
  allowedCidrs: readonly string[];
  /** Plain http:// URLs. */
  allowHttp: boolean;
  maxUrlLength: number;
}

/** Why a URL or an address was refused (never sent to the client verbatim by delivery). */
export class OutboundRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundRefused';
  }
}

const V4_BLOCKED = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT (e.g. Alibaba's metadata 100.100.100.200)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local: cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const;
const V6_BLOCKED = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['64:ff9b::', 96], // NAT64 (reaches IPv4 through a translator)
  ['64:ff9b:1::', 48], // local NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['fc00::', 7], // unique local (e.g. fd00:ec2::254, AWS metadata over IPv6)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const;

const blocked = new BlockList();
for (const [net, prefix] of V4_BLOCKED) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of V6_BLOCKED) blocked.addSubnet(net, prefix, 'ipv6');

/** A BlockList of the allowed CIDRs (validated by the config schema). */
export function allowList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [net, prefix] = c.split('/');
    list.addSubnet(net, Number(prefix), isIP(net) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d` or `::ffff:7f00:1`). */
function mappedV4(address: string): string | undefined {
  const m = /^::ffff:(?:0:)?(.+)$/i.exec(address);
  if (!m) return undefined;
  if (isIP(m[1]) === 4) return m[1];
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(m[1]);
  if (!hex) return undefined;
  const n = (parseInt(hex[1], 16) << 16) | parseInt(hex[2], 16);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Whether an IP address may be connected to under `allowed`. */
export function addressAllowed(address: string, allowed: BlockList): boolean {
  const v4 = mappedV4(address);
  if (v4) return addressAllowed(v4, allowed);
  const family = isIP(address);
  if (family === 0) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (allowed.check(address, type)) return true;
  return !blocked.check(address, type);
}

const LOCAL_NAMES = /(^|\.)(localhost|localdomain|local|internal|home\.arpa)\.?$/i;

/**
 * Checks a URL's shape (without DNS): http(s) (http only when allowed), no credentials, a
 * bounded length, no local names, and an IP literal only if that address is allowed. Returns the
 * parsed URL or throws {@link OutboundRefused} with a reason fit for the submitter.
 */
export function checkUrl(raw: string, policy: OutboundPolicy, allowed = allowList(policy.allowedCidrs)): URL {
  if (raw.length > policy.maxUrlLength) throw new OutboundRefused(`is longer than ${policy.maxUrlLength} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundRefused('is not a URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp))
    throw new OutboundRefused(policy.allowHttp ? 'must be an http(s) URL' : 'must be an https URL (callbacks.allowHttp is off)');
  if (url.username || url.password) throw new OutboundRefused('must not carry credentials (user:password@)');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new OutboundRefused('has no host');
  if (isIP(host)) {
    if (!addressAllowed(host, allowed))
      throw new OutboundRefused('points at an address that is not public (loopback, private, link-local or reserved)');
  } else if (LOCAL_NAMES.test(host) || !host.includes('.')) {
    throw new OutboundRefused('names a local host; use a public name, or allow its address range in callbacks.allowedCidrs');
  }
  return url;
}

/** A DNS lookup returning every address (node's signature, for injection in tests). */
export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

/** The system resolver. */
export const systemLookup: LookupAll = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/**
 * Resolves the URL's host once and returns the address to connect to: every address the name
 * has must be allowed (a name with one private address among public ones is refused, since the
 * next resolution could pick it).
 */
export async function resolvePinned(url: URL, allowed: BlockList, lookup: LookupAll = systemLookup): Promise<LookupAddress> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const family = isIP(host);
  // A name that does not resolve may resolve later (DNS hiccup): a plain, retryable error.
  const addresses = family ? [{ address: host, family }] : await lookup(host);
  if (!addresses.length) throw new Error('the host name did not resolve');
  for (const a of addresses)
    if (!addressAllowed(a.address, allowed)) throw new OutboundRefused('the host name resolves to an address that is not public');
  return addresses[0];
}
