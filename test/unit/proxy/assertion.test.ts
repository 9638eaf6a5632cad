import { describe, it, expect } from 'vitest'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { loadSigningKey } from '../../../src/proxy/signing-key.js'
import { createAssertionSigner } from '../../../src/proxy/assertion.js'

const subject = { id: 's1', sub: '00u1', email: 'alice@example.com', name: 'Alice', groups: ['admin', 'eng'], version: 1 }

describe('signing key', () => {
  it('derives the same key from the same cookie secret, and another from another', async () => {
    const secret = randomBytes(32)
    const a = await loadSigningKey(undefined, secret)
    const b = await loadSigningKey(undefined, Buffer.from(secret))
    const c = await loadSigningKey(undefined, randomBytes(32))
    expect(a.kid).toBe(b.kid)
    expect(a.kid).not.toBe(c.kid)
    expect(a.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
    expect(a.publicJwk).not.toHaveProperty('d')
  })

  it('loads a configured PKCS#8 or SEC1 PEM', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    for (const type of ['pkcs8', 'sec1'] as const) {
      const pem = privateKey.export({ format: 'pem', type }).toString()
      const k = await loadSigningKey(pem, randomBytes(32))
      expect(k.publicJwk.crv).toBe('P-256')
    }
  })
})

describe('assertion signer', () => {
  it('signs an ES256 JWT that verifies against the published key, with iss = aud = route host', async () => {
    const key = await loadSigningKey(undefined, randomBytes(32))
    const now = Date.now()
    const signer = createAssertionSigner({ key, now: () => now })
    const jwt = await signer.assertionFor(subject, 'app.example.com')
    const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet({ keys: [key.publicJwk] }), {
      issuer: 'app.example.com',
      audience: 'app.example.com',
      algorithms: ['ES256'],
      currentDate: new Date(now),
    })
    expect(protectedHeader.kid).toBe(key.kid)
    expect(payload).toMatchObject({ sub: '00u1', email: 'alice@example.com', groups: ['admin', 'eng'], name: 'Alice' })
    expect(payload.sid).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(payload.sid).not.toBe('s1')
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300)
  })

  it('caches per session and audience, and re-signs near expiry or after a refresh', async () => {
    const key = await loadSigningKey(undefined, randomBytes(32))
    let now = 1_700_000_000_000
    const signer = createAssertionSigner({ key, now: () => now })
    const first = await signer.assertionFor(subject, 'a.example.com')
    expect(await signer.assertionFor(subject, 'a.example.com')).toBe(first)
    expect(await signer.assertionFor(subject, 'b.example.com')).not.toBe(first)
    expect(signer.size).toBe(2)
    now += 241_000 // past 80% of five minutes
    const renewed = await signer.assertionFor(subject, 'a.example.com')
    expect(renewed).not.toBe(first)
    const afterRefresh = await signer.assertionFor({ ...subject, version: 2, groups: ['eng'] }, 'a.example.com')
    expect(afterRefresh).not.toBe(renewed)
    signer.forget('s1')
    expect(signer.size).toBe(0)
  })

  it('bounds the cache', async () => {
    const key = await loadSigningKey(undefined, randomBytes(32))
    const signer = createAssertionSigner({ key, now: () => 1, maxEntries: 3 })
    for (let i = 0; i < 10; i++) await signer.assertionFor({ ...subject, id: `s${i}` }, 'a')
    expect(signer.size).toBe(3)
  })
})
