/**
 * One authorization server's signing keys, rotated as Okta does: the next key
 * is published in `/keys` weeks before it signs (publish-ahead), then it
 * becomes the signing key while the old one stays published for tokens
 * still in flight; an emergency rotation makes a new key sign at once.
 */
import { randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose'
import type { SigningAlg } from './model.js'

interface RingKey {
  readonly kid: string
  readonly alg: SigningAlg
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
}

export interface KeyRing {
  /** The key that signs now. */
  active(): { kid: string; alg: SigningAlg; privateKey: CryptoKey }
  /** What `/keys` publishes: the next key (if any), the active key and recently retired ones. */
  jwks(): { keys: JWK[] }
  /** Publish a next key without signing with it yet; returns its kid. */
  publishNext(alg?: SigningAlg): Promise<string>
  /** The published next key starts signing; the old one stays published. Creates a next key first when none is published. */
  activateNext(): Promise<string>
  /** A brand-new key signs at once (it was never published ahead); `dropOld` unpublishes the previous keys. */
  emergencyRotate(opts?: { dropOld?: boolean; alg?: SigningAlg }): Promise<string>
  /** The public key for a kid this ring ever published (for id_token_hint checks). */
  publicKeyFor(kid: string): Promise<CryptoKey | undefined>
}

async function newKey(alg: SigningAlg): Promise<RingKey> {
  const { privateKey, publicKey } = await generateKeyPair(
    alg,
    alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048, extractable: true } : { extractable: true },
  )
  const kid = randomBytes(16).toString('base64url')
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

/** Okta keeps a handful of keys in `/keys`. */
const MAX_RETIRED = 2

export async function createKeyRing(alg: SigningAlg): Promise<KeyRing> {
  let active = await newKey(alg)
  let next: RingKey | undefined
  let retired: RingKey[] = []
  const everPublished = new Map<string, JWK>([[active.kid, active.publicJwk]])

  const retire = (k: RingKey): void => {
    retired = [k, ...retired].slice(0, MAX_RETIRED)
  }
  return {
    active: () => ({ kid: active.kid, alg: active.alg, privateKey: active.privateKey }),
    jwks: () => ({ keys: [...(next === undefined ? [] : [next.publicJwk]), active.publicJwk, ...retired.map((k) => k.publicJwk)] }),
    async publishNext(a) {
      next = await newKey(a ?? active.alg)
      everPublished.set(next.kid, next.publicJwk)
      return next.kid
    },
    async activateNext() {
      const n = next ?? (await newKey(active.alg))
      everPublished.set(n.kid, n.publicJwk)
      retire(active)
      active = n
      next = undefined
      return n.kid
    },
    async emergencyRotate(o = {}) {
      const n = await newKey(o.alg ?? active.alg)
      everPublished.set(n.kid, n.publicJwk)
      if (o.dropOld === true) retired = []
      else retire(active)
      active = n
      return n.kid
    },
    async publicKeyFor(kid) {
      const jwk = everPublished.get(kid)
      return jwk === undefined ? undefined : ((await importJWK(jwk, jwk.alg)) as CryptoKey)
    },
  }
}
