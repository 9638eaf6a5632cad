/**
 * How many requests each client address has in progress to each upstream
 * origin. The connection pool holds 128 connections per origin; without a
 * share per client, one address with slow bodies (or slow reads) could hold
 * all of them and starve every route on that upstream, signed-in users
 * included. Counts live on the running gatehouse (one per worker process, as
 * the pools are) and are dropped when they reach zero, so the map stays as
 * small as the set of clients with requests in flight.
 */

export interface ClientShares {
  /**
   * Take one of `client`'s `limit` places on `origin`: a release function, or
   * undefined when the client already has `limit` requests there. A limit of 0 means none.
   */
  take(origin: string, client: string, limit: number): (() => void) | undefined
  /** Requests in flight for one client and origin (for tests and metrics). */
  inFlight(origin: string, client: string): number
}

export function createClientShares(): ClientShares {
  const counts = new Map<string, number>()
  return {
    take(origin, client, limit) {
      if (limit === 0) return () => undefined
      const key = `${client} ${origin}`
      const n = counts.get(key) ?? 0
      if (n >= limit) return undefined
      counts.set(key, n + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (counts.get(key) ?? 1) - 1
        if (left <= 0) counts.delete(key)
        else counts.set(key, left)
      }
    },
    inFlight: (origin, client) => counts.get(`${client} ${origin}`) ?? 0,
  }
}
