/**
 * The connection pools to upstreams. One undici Agent; each upstream origin
 * gets a Pool whose TLS settings come from the routes that use it (the config
 * loader refuses routes that disagree about one origin). Upstream
 * certificates are verified unless the routes say `tls_skip_verify`.
 */
import { Agent, Pool, type Dispatcher } from 'undici'
import type { CompiledRoute } from '../config/types.js'

interface OriginTls {
  skipVerify: boolean
  ca: string[]
}

export function tlsByOrigin(routes: readonly CompiledRoute[]): Map<string, OriginTls> {
  const byOrigin = new Map<string, OriginTls>()
  for (const route of routes) {
    for (const up of route.to) {
      if (up.url.protocol !== 'https:') continue
      const origin = up.url.origin
      const prev = byOrigin.get(origin)
      const ca = route.tlsCustomCa === undefined ? [] : [route.tlsCustomCa]
      if (prev === undefined) byOrigin.set(origin, { skipVerify: route.tlsSkipVerify, ca })
      else byOrigin.set(origin, { skipVerify: prev.skipVerify && route.tlsSkipVerify, ca: [...prev.ca, ...ca] })
    }
  }
  return byOrigin
}

export interface UpstreamDispatcherOptions {
  /** Read on each new origin, so a reload's TLS settings apply to new pools. */
  readonly tls: () => Map<string, OriginTls>
  readonly connectTimeoutMs?: number
}

export function createUpstreamDispatcher(opts: UpstreamDispatcherOptions): Dispatcher {
  return new Agent({
    factory(origin: string | URL, poolOpts: Agent.Options) {
      const key = typeof origin === 'string' ? new URL(origin).origin : origin.origin
      const tls = opts.tls().get(key)
      return new Pool(origin, {
        ...poolOpts,
        connections: 128,
        keepAliveTimeout: 30_000,
        connect: {
          timeout: opts.connectTimeoutMs ?? 10_000,
          rejectUnauthorized: tls === undefined ? true : !tls.skipVerify,
          ...(tls !== undefined && tls.ca.length > 0 ? { ca: tls.ca } : {}),
        },
      })
    },
  })
}
