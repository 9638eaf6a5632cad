/**
 * Okta-style rate limits per endpoint kind: every answer carries
 * X-Rate-Limit-Limit / -Remaining / -Reset (epoch seconds); past the limit
 * the answer is 429 with Okta's API error body (`errorCode` E0000047,
 * `errorSummary`), not an OAuth `error`. Off until a test sets a limit.
 */
import type http from 'node:http'
import { OKTA, sendJson } from './http.js'
import { randomId } from './state.js'

export type EndpointKind = 'authorize' | 'token' | 'keys' | 'userinfo' | 'logout' | 'discovery' | 'api'

export interface RateLimitSetting {
  /** Requests allowed per window; 0 refuses every request until the window resets. */
  readonly limit: number
  readonly windowSeconds?: number
}

export interface RateLimiter {
  set(kind: EndpointKind | 'all', setting: RateLimitSetting | undefined): void
  /** Writes the headers; answers 429 and returns false when over the limit. */
  admit(kind: EndpointKind, res: http.ServerResponse): boolean
}

export function createRateLimiter(now: () => number): RateLimiter {
  const settings = new Map<EndpointKind, { limit: number; windowMs: number; used: number; resetAtMs: number }>()
  const ALL: EndpointKind[] = ['authorize', 'token', 'keys', 'userinfo', 'logout', 'discovery', 'api']
  return {
    set(kind, setting) {
      for (const k of kind === 'all' ? ALL : [kind]) {
        if (setting === undefined) settings.delete(k)
        else {
          const windowMs = (setting.windowSeconds ?? 60) * 1000
          settings.set(k, { limit: setting.limit, windowMs, used: 0, resetAtMs: now() + windowMs })
        }
      }
    },
    admit(kind, res) {
      const s = settings.get(kind)
      if (s === undefined) return true
      if (now() >= s.resetAtMs) {
        s.used = 0
        s.resetAtMs = now() + s.windowMs
      }
      s.used++
      const headers = {
        'x-rate-limit-limit': String(s.limit),
        'x-rate-limit-remaining': String(Math.max(0, s.limit - s.used)),
        'x-rate-limit-reset': String(Math.ceil(s.resetAtMs / 1000)),
      }
      if (s.used <= s.limit) {
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
        return true
      }
      const id = randomId('oae')
      sendJson(res, 429, { errorCode: 'E0000047', errorSummary: OKTA.rateLimited, errorLink: 'E0000047', errorId: id, errorCauses: [] }, headers)
      return false
    },
  }
}
