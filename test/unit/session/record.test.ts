import { createCipheriv, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { openRecord, recordKey, sealRecord, type SessionRecord } from '../../../src/session/record.js'

const jwtLike = (n: number): string => `eyJhbGciOiJSUzI1NiIsImtpZCI6I${randomBytes(n).toString('base64url')}`
const record: SessionRecord = {
  id: 'sess-1234567890abcdefgh',
  sub: '00u1alice0000000000',
  email: 'alice@example.com',
  name: 'Alice Admin',
  groups: ['admin', 'eng'],
  claims: { preferred_username: 'alice@example.com', email_verified: true },
  idToken: jwtLike(600),
  accessToken: jwtLike(32),
  refreshToken: randomBytes(32).toString('base64url'),
  idTokenExpiresAtMs: 1_800_000_000_000,
  createdAtMs: 1_790_000_000_000,
  refreshedAtMs: 1_790_000_000_000,
  expiresAtMs: 1_800_000_000_000,
  version: 3,
}
const key = recordKey(randomBytes(32), randomBytes(32), record.id)

/** How records were sealed before compression: the JSON itself. */
function sealJsonRecord(r: SessionRecord, k: Uint8Array): Buffer {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', k, iv)
  cipher.setAAD(Buffer.from(r.id))
  const ct = Buffer.concat([cipher.update(JSON.stringify(r), 'utf8'), cipher.final()])
  return Buffer.concat([iv, ct, cipher.getAuthTag()])
}

describe('session record at rest', () => {
  it('round-trips, and is stored smaller than its JSON', () => {
    const sealed = sealRecord(record, key)
    expect(openRecord(sealed, key, record.id)).toEqual(record)
    expect(sealed.length).toBeLessThan(JSON.stringify(record).length * 0.9)
  })

  it('still opens records sealed as plain JSON (sessions stored before compression)', () => {
    expect(openRecord(sealJsonRecord(record, key), key, record.id)).toEqual(record)
  })

  it('refuses a flipped bit, another id, another key, and an unknown format', () => {
    const sealed = sealRecord(record, key)
    const flipped = Buffer.from(sealed)
    flipped[20] = (flipped[20] as number) ^ 1
    expect(openRecord(flipped, key, record.id)).toBeUndefined()
    expect(openRecord(sealed, key, 'other-id')).toBeUndefined()
    expect(openRecord(sealed, recordKey(randomBytes(32), randomBytes(32), record.id), record.id)).toBeUndefined()
    // A validly encrypted plaintext in a format nobody wrote.
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(record.id))
    const ct = Buffer.concat([cipher.update(Buffer.from([0x09, 1, 2, 3])), cipher.final()])
    expect(openRecord(Buffer.concat([iv, ct, cipher.getAuthTag()]), key, record.id)).toBeUndefined()
  })
})
