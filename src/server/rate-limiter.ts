/**
 * A fixed-window counter per key (a client address), in memory and bounded:
 * past MAX_KEYS the oldest window's keys are dropped, so a flood of addresses
 * costs memory once, not forever.
 */
export interface RateLimiter {
  /** Count one event for `key`; false when `key` is over the limit in this window. */
  take(key: string): boolean
}

const MAX_KEYS = 10_000

export function createRateLimiter(o: { readonly limit: number; readonly windowMs: number; readonly now: () => number }): RateLimiter {
  let windowStart = o.now()
  let counts = new Map<string, number>()
  return {
    take(key) {
      const t = o.now()
      if (t - windowStart >= o.windowMs || counts.size >= MAX_KEYS) {
        windowStart = t
        counts = new Map()
      }
      const n = (counts.get(key) ?? 0) + 1
      counts.set(key, n)
      return n <= o.limit
    },
  }
}
