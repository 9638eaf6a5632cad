/**
 * Weighted round robin over a route's `to` list (nginx's smooth algorithm:
 * weights 5,1,1 give a a b a c a a, not a a a a a b c).
 */
import type { Upstream } from '../config/types.js'

export interface UpstreamPicker {
  next(): Upstream
}

export function createUpstreamPicker(upstreams: readonly Upstream[]): UpstreamPicker {
  const first = upstreams[0]
  if (first === undefined) throw new Error('a route needs at least one upstream')
  if (upstreams.length === 1) return { next: () => first }
  const current = upstreams.map(() => 0)
  const total = upstreams.reduce((sum, u) => sum + u.weight, 0)
  return {
    next() {
      let best = 0
      for (let i = 0; i < upstreams.length; i++) {
        current[i] = (current[i] as number) + (upstreams[i] as Upstream).weight
        if ((current[i] as number) > (current[best] as number)) best = i
      }
      current[best] = (current[best] as number) - total
      return upstreams[best] as Upstream
    },
  }
}
