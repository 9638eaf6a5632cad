/**
 * The state of one sign-in attempt (state, nonce, PKCE verifier, return URL),
 * sealed into a short-lived cookie with AES-256-GCM under a key derived from
 * cookie_secret. Opening never throws: anything not sealed by us, or too old,
 * is undefined.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'

export interface LoginState {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier: string
  readonly returnTo: string
  readonly redirectUri: string
  readonly createdAtMs: number
}

export const LOGIN_STATE_TTL_MS = 10 * 60 * 1000
const MAX_SEALED_CHARS = 4096

export function loginStateKey(cookieSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), 'gatehouse login state v1', 32))
}

/** A short, cookie-name-safe digest of the state value: names the attempt's cookie. */
export function loginCookieSuffix(state: string): string {
  return createHash('sha256').update(state).digest('base64url').slice(0, 12).replace(/[-_]/g, 'x')
}

export function sealLoginState(s: LoginState, key: Uint8Array): string {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  const ct = Buffer.concat([c.update(JSON.stringify(s), 'utf8'), c.final()])
  return Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64url')
}

export function openLoginState(sealed: string | undefined, key: Uint8Array, nowMs: number): LoginState | undefined {
  if (sealed === undefined || sealed.length < 40 || sealed.length > MAX_SEALED_CHARS || !/^[A-Za-z0-9_-]+$/.test(sealed)) return undefined
  const raw = Buffer.from(sealed, 'base64url')
  try {
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
    d.setAuthTag(raw.subarray(raw.length - 16))
    const s = JSON.parse(Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8')) as LoginState
    if (
      typeof s.state !== 'string' ||
      typeof s.nonce !== 'string' ||
      typeof s.codeVerifier !== 'string' ||
      typeof s.returnTo !== 'string' ||
      typeof s.createdAtMs !== 'number'
    )
      return undefined
    if (nowMs - s.createdAtMs > LOGIN_STATE_TTL_MS || s.createdAtMs - nowMs > 60_000) return undefined
    return s
  } catch {
    return undefined
  }
}
