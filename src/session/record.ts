/**
 * The session record and its encrypted form at rest. The record key comes
 * from the ticket's per-session secret and cookie_secret together: neither a
 * store dump nor a stolen cookie_secret alone opens a record.
 */
import type { Identity } from '../policy/types.js'
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'

/** Identity (sub, email, name, groups, a small selection of claims) plus tokens and times. */
export interface SessionRecord extends Identity {
  readonly id: string
  readonly idToken: string
  readonly accessToken: string
  readonly refreshToken: string | undefined
  /** The IdP's session id (the ID token's `sid`), which back- and front-channel logout name. */
  readonly idpSid?: string | undefined
  readonly idTokenExpiresAtMs: number
  /** From the token response's `expires_in` (absent in records written before it was kept). */
  readonly accessTokenExpiresAtMs?: number | undefined
  /** Things a person should know about this sign-in (a missing groups claim), shown on the user page. */
  readonly notes?: readonly string[]
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

/**
 * The plaintext is the record's JSON deflated against a dictionary of what
 * every record holds (its keys, the JWT header prefixes): about 60% of the
 * JSON's size, which is most of what an in-memory session costs. A leading
 * byte names the format; plain JSON (`{`, the first format) still opens.
 * Compression happens before encryption and the sealed bytes never reach a
 * client, so their length tells an attacker nothing they could steer.
 */
const FORMAT_DEFLATE = 0x01
const FORMAT_JSON = 0x7b // '{'
const DICTIONARY = Buffer.from(
  '{"sub":"00u","email":"@","name":"","groups":[],"claims":{"preferred_username":"","email_verified":true},' +
    '"idToken":"eyJhbGciOiJSUzI1NiIsImtpZCI6I","accessToken":"eyJraWQiOiI","refreshToken":"",' +
    '"idTokenExpiresAtMs":17,"id":"","createdAtMs":17,"refreshedAtMs":17,"expiresAtMs":17,"version":1}',
)
/** Far above any real record; refuses a decompression bomb. */
const MAX_PLAINTEXT = 1024 * 1024

function encodeRecord(record: SessionRecord): Buffer {
  const z = deflateRawSync(JSON.stringify(record), { dictionary: DICTIONARY })
  const out = Buffer.allocUnsafe(z.length + 1)
  out[0] = FORMAT_DEFLATE
  z.copy(out, 1)
  return out
}

function decodeRecord(plain: Buffer): SessionRecord {
  if (plain[0] === FORMAT_JSON) return JSON.parse(plain.toString('utf8')) as SessionRecord
  if (plain[0] === FORMAT_DEFLATE)
    return JSON.parse(inflateRawSync(plain.subarray(1), { dictionary: DICTIONARY, maxOutputLength: MAX_PLAINTEXT }).toString('utf8')) as SessionRecord
  throw new Error('unknown session record format')
}

export function sealRecord(record: SessionRecord, key: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(record.id))
  const ct = Buffer.concat([cipher.update(encodeRecord(record)), cipher.final()])
  return Buffer.concat([iv, ct, cipher.getAuthTag()])
}

export function openRecord(bytes: Uint8Array, key: Uint8Array, id: string): SessionRecord | undefined {
  if (bytes.length < IV_BYTES + TAG_BYTES + 2) return undefined
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(id))
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES))
    const plain = Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()])
    const rec = decodeRecord(plain)
    return rec.id === id ? rec : undefined
  } catch {
    return undefined
  }
}

/**
 * The refresh token again, sealed under a key from cookie_secret alone, so
 * that an IdP-started logout (which has no cookie) can revoke it at the IdP.
 * This is the one secret a store dump plus cookie_secret opens; the record
 * itself still needs the per-session secret that only the cookie holds.
 */
export function revocationKey(cookieSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), 'gatehouse refresh revocation v1', 32))
}

export function sealNote(text: string, key: Uint8Array, id: string): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from('note ' + id))
  const ct = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()])
  return Buffer.concat([iv, ct, cipher.getAuthTag()])
}

export function openNote(bytes: Uint8Array, key: Uint8Array, id: string): string | undefined {
  if (bytes.length < IV_BYTES + TAG_BYTES + 1) return undefined
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from('note ' + id))
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES))
    return Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
