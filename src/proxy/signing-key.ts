/**
 * The key that signs the assertion header (ES256). Either the configured
 * `signing_key` (PEM, EC P-256) or, when absent, one derived from the cookie
 * secret with HKDF, so that replicas sharing the secret publish the same key.
 */
import { createECDH, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'

export interface SigningKey {
  readonly privateKey: KeyObject
  /** The public half as a JWK with `kid`, `alg`, `use`, ready for the JWKS endpoint. */
  readonly publicJwk: Readonly<JWK>
  readonly kid: string
}

// P-256 group order: a derived scalar must be in [1, n-1].
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

function deriveP256Key(cookieSecret: Uint8Array): KeyObject {
  for (let counter = 0; ; counter++) {
    const d = Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), `gatehouse signing key v1/${counter}`, 32))
    const n = BigInt('0x' + d.toString('hex'))
    if (n === 0n || n >= P256_ORDER) continue
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(d)
    const pub = ecdh.getPublicKey() // 0x04 || x || y
    return createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        d: d.toString('base64url'),
        x: pub.subarray(1, 33).toString('base64url'),
        y: pub.subarray(33, 65).toString('base64url'),
      },
    })
  }
}

export async function loadSigningKey(pem: string | undefined, cookieSecret: Uint8Array): Promise<SigningKey> {
  const privateKey = pem === undefined ? deriveP256Key(cookieSecret) : createPrivateKey(pem)
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK
  // A short kid (a thumbprint prefix) keeps the assertion small: it rides on every request.
  const kid = (await calculateJwkThumbprint(jwk)).slice(0, 16)
  return { privateKey, kid, publicJwk: Object.freeze({ ...jwk, kid, alg: 'ES256', use: 'sig' }) }
}
