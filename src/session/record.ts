/**
 * The session record and its encrypted form at rest. The record key comes
 * from the ticket's per-session secret and cookie_secret together: neither a
 * store dump nor a stolen cookie_secret alone opens a record.
 */
import type { Identity } from '../policy/types.js'
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/** Identity (sub, email, name, groups, a small selection of claims) plus tokens and times. */
export interface SessionRecord extends Identity {
  readonly id: string
  readonly idToken: string
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly idTokenExpiresAtMs: number
  readonly createdAtMs: number
  /** Sign-in or last successful refresh. */
  readonly refreshedAtMs: number
  /** Absolute end: created + cookie_expire, whatever the refresh token allows. */
  readonly expiresAtMs: number
  /** Bumped on every save. */
  readonly version: number
}

export type NewSession = Omit<SessionRecord, 'id' | 'createdAtMs' | 'refreshedAtMs' | 'expiresAtMs' | 'version'>

const IV_BYTES = 12
const TAG_BYTES = 16

export function recordKey(secret: Uint8Array, cookieSecret: Uint8Array, id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, cookieSecret, `gatehouse record v1 ${id}`, 32))
}

export function sealRecord(record: SessionRecord, key: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(record.id))
  const ct = Buffer.concat([cipher.update(JSON.stringify(record), 'utf8'), cipher.final()])
  return Buffer.concat([iv, ct, cipher.getAuthTag()])
}

export function openRecord(bytes: Uint8Array, key: Uint8Array, id: string): SessionRecord | undefined {
  if (bytes.length < IV_BYTES + TAG_BYTES + 2) return undefined
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(id))
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES))
    const plain = Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    const rec = JSON.parse(plain) as SessionRecord
    return rec.id === id ? rec : undefined
  } catch {
    return undefined
  }
}
