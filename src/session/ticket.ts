/**
 * The session cookie: a sealed ticket. The ticket is the session id plus a
 * per-session secret (as oauth2-proxy's `v2.<id>.<secret>`); the secret keys
 * the stored record, so a dump of the store alone reveals nothing. The cookie
 * seals the ticket with AES-256-GCM under a key derived from cookie_secret,
 * so it is opaque and tamper-evident. Decoding never throws.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

export interface Ticket {
  /** 128-bit random id, hex: the store key. */
  readonly id: string
  /** 256-bit random secret: keys the record. Lives only in the cookie. */
  readonly secret: Uint8Array
}

const VERSION = 1
const ID_BYTES = 16
const SECRET_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const SEALED_BYTES = 1 + IV_BYTES + ID_BYTES + SECRET_BYTES + TAG_BYTES
const MAX_COOKIE_CHARS = 256

export function deriveKey(cookieSecret: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), info, 32))
}

export function newTicket(): Ticket {
  return { id: randomBytes(ID_BYTES).toString('hex'), secret: randomBytes(SECRET_BYTES) }
}

export function encodeTicket(ticket: Ticket, cookieKey: Uint8Array): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', cookieKey, iv)
  cipher.setAAD(Buffer.from([VERSION]))
  const ct = Buffer.concat([cipher.update(Buffer.from(ticket.id, 'hex')), cipher.update(ticket.secret), cipher.final()])
  return Buffer.concat([Buffer.from([VERSION]), iv, ct, cipher.getAuthTag()]).toString('base64url')
}

export function decodeTicket(cookieValue: string | undefined, cookieKey: Uint8Array): Ticket | undefined {
  if (cookieValue === undefined || cookieValue.length === 0 || cookieValue.length > MAX_COOKIE_CHARS) return undefined
  if (!/^[A-Za-z0-9_-]+$/.test(cookieValue)) return undefined
  const raw = Buffer.from(cookieValue, 'base64url')
  if (raw.length !== SEALED_BYTES || raw[0] !== VERSION) return undefined
  try {
    const iv = raw.subarray(1, 1 + IV_BYTES)
    const tag = raw.subarray(raw.length - TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', cookieKey, iv)
    decipher.setAAD(Buffer.from([VERSION]))
    decipher.setAuthTag(tag)
    const plain = Buffer.concat([decipher.update(raw.subarray(1 + IV_BYTES, raw.length - TAG_BYTES)), decipher.final()])
    return { id: plain.subarray(0, ID_BYTES).toString('hex'), secret: plain.subarray(ID_BYTES) }
  } catch {
    // Authentication failed: tampered, or sealed under another cookie_secret.
    return undefined
  }
}
