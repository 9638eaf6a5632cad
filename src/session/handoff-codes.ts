/**
 * One-time codes that hand a session from the sign-in host to a route host
 * (`authenticate_service_url`). A code is 256 random bits that travel once in
 * a URL; the store keeps only its digest and, sealed under a key derived from
 * the code itself, the session's ticket and what the code is for (the route
 * host, the browser's binding, the return URL). So a store dump opens no
 * session, and any replica sharing the store can redeem a code another minted.
 *
 * Redeeming claims the code first (set-if-absent, as a logout token's jti):
 * of two concurrent redemptions, on any replicas, one wins; the loser and
 * every later one find nothing. Codes live at most CODE_TTL_MS.
 *
 *   c:<digest>   the sealed grant
 *   j:code:<digest>  the claim that makes it single-use
 *   h:<id>       the route hosts a session was handed to (the user page lists them)
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import type { KeyValueStore } from './store.js'
import { decodeTicket, deriveKey, encodeTicket } from './ticket.js'

export const CODE_TTL_MS = 60_000

/** What a code is for. */
export interface HandoffGrant {
  /** The route host (authority, lower case) that may redeem it. */
  readonly host: string
  /** Digest of the route host's binding cookie: the browser that started. */
  readonly binding: string
  readonly returnTo: string
}

export type Redeemed =
  | { readonly ok: true; readonly grant: HandoffGrant; readonly cookieValue: string; readonly sessionId: string }
  /** Unknown, expired, already used, or not sealed by us: all look alike to the caller. */
  | { readonly ok: false; readonly why: 'unknown' | 'used' | 'malformed' }

export interface HandoffCodes {
  /** A code for the session behind `cookieValue` (a session cookie of the sign-in host); undefined when that cookie is not one of ours. */
  mint(cookieValue: string, grant: HandoffGrant): Promise<string | undefined>
  /** Claims the code (once, across replicas) and returns a fresh cookie value for the same session. */
  redeem(code: string | null | undefined): Promise<Redeemed>
  /** Remember that the session was handed to this route host (for the user page). */
  noteHost(sessionId: string, host: string, ttlMs: number): Promise<void>
  hostsOf(sessionId: string): Promise<string[]>
  /** The same session's ticket sealed afresh (another cookie value, same session); undefined when not one of ours. */
  reseal(cookieValue: string): string | undefined
}

interface Sealed extends HandoffGrant {
  readonly id: string
  /** The ticket's secret, base64url. */
  readonly secret: string
  readonly expiresAtMs: number
}

const CODE = /^[A-Za-z0-9_-]{43}$/

function digestOf(code: string): string {
  return createHash('sha256').update(code).digest('base64url')
}

function keyOf(code: string, cookieSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(code), cookieSecret, 'gatehouse handoff code v1', 32))
}

export function createHandoffCodes(o: { store: KeyValueStore; cookieSecret: Uint8Array; now: () => number }): HandoffCodes {
  const cookieKey = deriveKey(o.cookieSecret, 'gatehouse cookie v1')
  return {
    async mint(cookieValue, grant) {
      const ticket = decodeTicket(cookieValue, cookieKey)
      if (ticket === undefined) return undefined
      const code = randomBytes(32).toString('base64url')
      const digest = digestOf(code)
      const sealed: Sealed = { ...grant, id: ticket.id, secret: Buffer.from(ticket.secret).toString('base64url'), expiresAtMs: o.now() + CODE_TTL_MS }
      const iv = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', keyOf(code, o.cookieSecret), iv)
      c.setAAD(Buffer.from('c:' + digest))
      const ct = Buffer.concat([c.update(JSON.stringify(sealed), 'utf8'), c.final()])
      await o.store.set('c:' + digest, Buffer.concat([iv, ct, c.getAuthTag()]), CODE_TTL_MS)
      return code
    },

    async redeem(code) {
      if (typeof code !== 'string' || !CODE.test(code)) return { ok: false, why: 'malformed' }
      const digest = digestOf(code)
      const bytes = await o.store.get('c:' + digest)
      if (bytes === undefined) return { ok: false, why: 'unknown' }
      // Single use across replicas: the first claim wins; the record goes with it.
      if ((await o.store.tryLock('j:code:' + digest, CODE_TTL_MS)) === undefined) return { ok: false, why: 'used' }
      await o.store.delete('c:' + digest)
      const sealed = open(Buffer.from(bytes), keyOf(code, o.cookieSecret), digest)
      if (sealed === undefined || o.now() > sealed.expiresAtMs) return { ok: false, why: 'unknown' }
      const cookieValue = encodeTicket({ id: sealed.id, secret: Buffer.from(sealed.secret, 'base64url') }, cookieKey)
      return { ok: true, grant: { host: sealed.host, binding: sealed.binding, returnTo: sealed.returnTo }, cookieValue, sessionId: sealed.id }
    },

    noteHost: (sessionId, host, ttlMs) => o.store.addToSet('h:' + sessionId, host.slice(0, 300), ttlMs),
    hostsOf: (sessionId) => o.store.members('h:' + sessionId),
    reseal(cookieValue) {
      const ticket = decodeTicket(cookieValue, cookieKey)
      return ticket === undefined ? undefined : encodeTicket(ticket, cookieKey)
    },
  }
}

function open(buf: Buffer, key: Buffer, digest: string): Sealed | undefined {
  if (buf.length < 12 + 16 + 2) return undefined
  try {
    const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12))
    d.setAAD(Buffer.from('c:' + digest))
    d.setAuthTag(buf.subarray(buf.length - 16))
    const s = JSON.parse(Buffer.concat([d.update(buf.subarray(12, buf.length - 16)), d.final()]).toString('utf8')) as Sealed
    if (typeof s.id !== 'string' || !/^[0-9a-f]{32}$/.test(s.id) || typeof s.secret !== 'string' || typeof s.host !== 'string') return undefined
    if (typeof s.binding !== 'string' || typeof s.returnTo !== 'string' || typeof s.expiresAtMs !== 'number') return undefined
    return s
  } catch {
    return undefined
  }
}
