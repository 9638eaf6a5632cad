/**
 * Weighted round robin over a route's `to` list (nginx's smooth algorithm:
 * weights 5,1,1 give a a b a c a a, not a a a a a b c).
 */
import type { Upstream } from '../config/types.js'

/** An upstream's URL parts, read once (URL getters build a new string on every call). */
export interface UpstreamTarget {
  /** `http://host:port` */
  readonly origin: string
  /** `host:port` as the default Host header. */
  readonly host: string
  /** The `to` URL's path, prepended to the request path. */
  readonly pathname: string
  readonly url: URL
}

export interface UpstreamPicker {
  next(): UpstreamTarget
}

export function createUpstreamPicker(list: readonly Upstream[]): UpstreamPicker {
  const upstreams = list.map((u) => ({ weight: u.weight, origin: u.url.origin, host: u.url.host, pathname: u.url.pathname, url: u.url }))
  const first = upstreams[0]
  if (first === undefined) throw new Error('a route needs at least one upstream')
  if (upstreams.length === 1) return { next: () => first }
  const current = upstreams.map(() => 0)
  const total = upstreams.reduce((sum, u) => sum + u.weight, 0)
  return {
    next() {
      let best = 0
      for (let i = 0; i < upstreams.length; i++) {
        current[i] = (current[i] as number) + (upstreams[i] as { weight: number }).weight
        if ((current[i] as number) > (current[best] as number)) best = i
      }
      current[best] = (current[best] as number) - total
      return upstreams[best] as UpstreamTarget
    },
  }
}
