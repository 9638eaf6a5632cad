/** The long-lived parts of a running gatehouse, shared by every request. */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { AssertionSigner } from '../proxy/assertion.js'
import type { IdentityPort, SessionPort } from '../authorize/ports.js'
import type { Snapshot } from './lifecycle/snapshot.js'
import type { Metrics } from './telemetry/metrics.js'
import type { AccessLog } from './telemetry/access-log.js'
import type { LiveConnections } from './frontends/live-connections.js'
import type { BearerPort } from '../authorize/bearer.js'
import type { Directory } from '../identity/directory.js'
import type { RateLimiter } from './rate-limiter.js'
import type { ClientShares } from '../proxy/client-shares.js'
import type { HandoffCodes } from '../session/index.js'

export interface Gatehouse {
  /** The current config snapshot; a reload swaps it. Read it once per request. */
  current(): Snapshot
  readonly sessions: SessionPort
  readonly identity: IdentityPort
  readonly signer: AssertionSigner
  /** Connection pools to the upstreams. */
  readonly dispatcher: Dispatcher
  /** Requests in flight per client address and upstream origin (`max_upstream_requests_per_client`). */
  readonly shares: ClientShares
  /** The JWKS document (JSON text) that verifies assertions. */
  readonly jwksJson: string
  readonly listenerProto: 'http' | 'https'
  readonly now: () => number
  readonly log: Logger
  /** One line per request, into the same destination as `log`. */
  readonly accessLog: AccessLog
  readonly csrf: CsrfTokens
  /** Sign-in callbacks per client address: each may cost a token-endpoint call at the IdP. */
  readonly callbackLimiter: RateLimiter
  readonly metrics: Metrics
  /** Open WebSockets and streams, closed when their session ends. */
  readonly live: LiveConnections
  /** Verifies bearer tokens on routes with bearer_token_format other than default. */
  readonly bearer: BearerPort
  /** Groups from Okta's API (idp_service_account or the directory service app), when configured. */
  readonly directory?: { readonly directory: Directory; readonly groupsFilter: RegExp | undefined }
  /** One-time codes that hand a session from the sign-in host (`authenticate_service_url`) to a route host. */
  readonly handoffs: HandoffCodes
}

export interface CsrfTokens {
  tokenFor(sessionId: string): string
  check(sessionId: string, token: string | undefined): boolean
}

/** CSRF tokens bound to the session id: no extra cookie, nothing stored. */
export function createCsrfTokens(cookieSecret: Uint8Array): CsrfTokens {
  const key = Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), 'gatehouse csrf v1', 32))
  const tokenFor = (sid: string): string => createHmac('sha256', key).update(sid).digest('base64url')
  return {
    tokenFor,
    check(sid, token) {
      if (token === undefined) return false
      const want = Buffer.from(tokenFor(sid))
      const got = Buffer.from(token)
      return want.length === got.length && timingSafeEqual(want, got)
    },
  }
}
