/**
 * The token of a programmatic sign-in: a session ticket sealed as a cookie
 * would be, plus a MAC that ties it to one route host. Sent as
 * `Authorization: Bearer Gatehouse-<token>` (or Pomerium's `Pomerium <token>`
 * and `Bearer Pomerium-<token>`), it stands in for that host's cookie. Pure.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

const PREFIXES = [/^bearer gatehouse-/i, /^bearer pomerium-/i, /^pomerium /i]
const MAX_TOKEN = 512

function mac(key: Uint8Array, host: string, cookieValue: string): string {
  return createHmac('sha256', key).update(`gatehouse programmatic v1|${host}|${cookieValue}`).digest('base64url')
}

export function signProgrammaticToken(key: Uint8Array, host: string, cookieValue: string): string {
  return `${cookieValue}.${mac(key, host, cookieValue)}`
}

/** The token in an Authorization header, when it has one of the programmatic forms; else undefined. */
export function programmaticTokenOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || header.length > MAX_TOKEN + 32) return undefined
  for (const p of PREFIXES) {
    const m = p.exec(header)
    if (m !== null) return header.slice(m[0].length).trim()
  }
  return undefined
}

/** The cookie value inside a token minted for this host, or undefined. */
export function openProgrammaticToken(key: Uint8Array, host: string, token: string): string | undefined {
  const dot = token.lastIndexOf('.')
  if (dot <= 0 || token.length > MAX_TOKEN) return undefined
  const cookieValue = token.slice(0, dot)
  const want = Buffer.from(mac(key, host, cookieValue))
  const got = Buffer.from(token.slice(dot + 1))
  return want.length === got.length && timingSafeEqual(want, got) ? cookieValue : undefined
}
