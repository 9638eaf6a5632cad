/**
 * Who the client is, as far as gatehouse can believe: the TCP peer, unless the
 * peer is one of `trusted_proxies`, in which case X-Forwarded-For is walked
 * from the right past trusted hops. With no trusted proxies (the default) a
 * client can never spoof its address, scheme or host.
 */
import { BlockList, isIP } from 'node:net'

export interface ForwardedFacts {
  /** The client's address, IPv4-mapped IPv6 unwrapped. */
  readonly clientIp: string
  /** The X-Forwarded-For value to send upstream. */
  readonly forwardedFor: string
  readonly proto: 'http' | 'https'
  readonly host: string
}

export interface ClientAddressResolver {
  resolve(
    peer: string | undefined,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    listenerProto: 'http' | 'https',
    host: string,
  ): ForwardedFacts
  isTrusted(addr: string): boolean
}

export function unmapIPv4(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr
}

function addCidr(list: BlockList, cidr: string): void {
  const slash = cidr.indexOf('/')
  const addr = slash === -1 ? cidr : cidr.slice(0, slash)
  const family = isIP(addr)
  if (family === 0) throw new Error(`not an IP address or CIDR: ${cidr}`)
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (slash === -1) list.addAddress(addr, type)
  else list.addSubnet(addr, Number(cidr.slice(slash + 1)), type)
}

/**
 * The value the nearest trusted proxy appended: the rightmost entry over all
 * lines of the header. Entries to its left came from further away, down to the
 * client itself, and may be anything the client wrote.
 */
function nearestValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  const text = Array.isArray(v) ? v.join(',') : v
  const comma = text.lastIndexOf(',')
  const last = (comma === -1 ? text : text.slice(comma + 1)).trim()
  return last.length === 0 ? undefined : last
}

/**
 * `xffNumTrustedHops` is Pomerium's (Envoy's) `xff_num_trusted_hops`: that many
 * proxies in front each appended the address they saw, so the client is the
 * Nth X-Forwarded-For entry from the right, whoever the peer is; with fewer
 * entries than that, the peer. It trusts by count, not by address: a client
 * that can reach gatehouse directly can choose its address, so it belongs only
 * where nothing but those proxies can connect (trusted_proxies names them instead).
 */
export function createClientAddressResolver(trustedProxies: readonly string[], xffNumTrustedHops = 0): ClientAddressResolver {
  const list = new BlockList()
  for (const cidr of trustedProxies) addCidr(list, cidr)
  const hasTrusted = trustedProxies.length > 0

  function isTrusted(addr: string): boolean {
    if (!hasTrusted) return false
    const a = unmapIPv4(addr)
    const family = isIP(a)
    if (family === 0) return false
    return list.check(a, family === 4 ? 'ipv4' : 'ipv6')
  }

  return {
    isTrusted,
    resolve(peerRaw, headers, listenerProto, host) {
      const peer = unmapIPv4(peerRaw ?? '')
      if (xffNumTrustedHops > 0 && !isTrusted(peer)) return byHopCount(peer, headers, listenerProto, host, xffNumTrustedHops)
      if (!hasTrusted || !isTrusted(peer)) {
        return { clientIp: peer, forwardedFor: peer, proto: listenerProto, host }
      }
      const xffRaw = headers['x-forwarded-for']
      const xff = (Array.isArray(xffRaw) ? xffRaw.join(',') : (xffRaw ?? ''))
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
      let clientIp = peer
      for (let i = xff.length - 1; i >= 0; i--) {
        const hop = unmapIPv4(xff[i] as string)
        if (isIP(hop) === 0) break
        clientIp = hop
        if (!isTrusted(hop)) break
      }
      const fwdProto = nearestValue(headers['x-forwarded-proto'])?.toLowerCase()
      const fwdHost = nearestValue(headers['x-forwarded-host'])
      return {
        clientIp,
        forwardedFor: [...xff, peer].join(', '),
        proto: fwdProto === 'https' || fwdProto === 'http' ? fwdProto : listenerProto,
        host: fwdHost !== undefined && fwdHost.length > 0 ? fwdHost : host,
      }
    },
  }
}

function listOf(v: string | string[] | undefined): string[] {
  return (Array.isArray(v) ? v.join(',') : (v ?? ''))
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
}

function byHopCount(
  peer: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  listenerProto: 'http' | 'https',
  host: string,
  hops: number,
): ForwardedFacts {
  const xff = listOf(headers['x-forwarded-for'])
  const candidate = xff.length >= hops ? unmapIPv4(xff[xff.length - hops] as string) : undefined
  // The nearest proxy's own X-Forwarded-Proto/-Host: the rightmost value.
  const proto = listOf(headers['x-forwarded-proto']).at(-1)?.toLowerCase()
  const fwdHost = listOf(headers['x-forwarded-host']).at(-1)
  return {
    clientIp: candidate !== undefined && isIP(candidate) !== 0 ? candidate : peer,
    forwardedFor: [...xff, peer].join(', '),
    proto: proto === 'https' || proto === 'http' ? proto : listenerProto,
    host: fwdHost ?? host,
  }
}
