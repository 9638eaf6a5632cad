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

export function createClientAddressResolver(trustedProxies: readonly string[]): ClientAddressResolver {
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
