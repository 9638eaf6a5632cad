/**
 * How gatehouse authenticates to Okta's management API: an API token
 * (`Authorization: SSWS …`), or an OAuth service app that gets a scoped access
 * token with the client-credentials grant and `private_key_jwt` at the ORG
 * server's token endpoint (Okta issues management-API tokens only there; a
 * custom server's token is refused by /api/v1). The token is reused until
 * shortly before it expires.
 */
import { createPrivateKey, randomUUID } from 'node:crypto'
import { importPKCS8, SignJWT, type CryptoKey } from 'jose'
import type { DirectoryCredential } from '../config/types.js'
import type { FetchLike } from './key-set.js'

export const DIRECTORY_SCOPES = 'okta.groups.read okta.users.read'

export interface DirectoryAuth {
  /** The Authorization header value. Rejects with DirectoryFailure. */
  header(signal: AbortSignal): Promise<string>
  /** After a 401 from the API: the cached token is no good. */
  forget(): void
}

/** Why the directory could not answer, in words that go into a policy reason. */
export class DirectoryFailure extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown; readonly retryAtMs?: number },
  ) {
    super(reason, options)
    this.name = 'DirectoryFailure'
  }
}

function algFor(pem: string): { alg: string; pkcs8: string } {
  const key = createPrivateKey(pem)
  const pkcs8 = key.export({ format: 'pem', type: 'pkcs8' }).toString()
  if (key.asymmetricKeyType !== 'ec') return { alg: 'RS256', pkcs8 }
  const curve = key.asymmetricKeyDetails?.namedCurve
  return { alg: curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256', pkcs8 }
}

export function createDirectoryAuth(credential: DirectoryCredential, orgUrl: string, deps: { fetch: FetchLike; now: () => number }): DirectoryAuth {
  if (credential.kind === 'api_token') {
    const header = `SSWS ${credential.apiToken}`
    return { header: async () => header, forget: () => undefined }
  }
  const app = credential
  const tokenEndpoint = `${orgUrl}/oauth2/v1/token`
  const { alg, pkcs8 } = algFor(app.privateKeyPem)
  let key: Promise<CryptoKey> | undefined
  let cached: { header: string; untilMs: number } | undefined
  let pending: Promise<string> | undefined

  async function assertion(): Promise<string> {
    key ??= importPKCS8(pkcs8, alg)
    const nowS = Math.floor(deps.now() / 1000)
    // Okta: iss = sub = client id, aud = the token endpoint itself, exp within an hour, a fresh jti.
    return new SignJWT({})
      .setProtectedHeader(app.keyId === undefined ? { alg } : { alg, kid: app.keyId })
      .setIssuer(app.clientId)
      .setSubject(app.clientId)
      .setAudience(tokenEndpoint)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + 300)
      .setJti(randomUUID())
      .sign(await key)
  }

  async function fetchToken(signal: AbortSignal): Promise<string> {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: DIRECTORY_SCOPES,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
    })
    let res: Response
    try {
      res = await deps.fetch(tokenEndpoint, { method: 'POST', body, headers: { accept: 'application/json' }, signal })
    } catch (cause) {
      throw new DirectoryFailure('the directory was unreachable (the org token endpoint did not answer)', { cause })
    }
    const json = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined
    if (!res.ok || json === undefined || typeof json.access_token !== 'string') {
      const err = typeof json?.error === 'string' ? json.error : `HTTP ${res.status}`
      const desc = typeof json?.error_description === 'string' ? `: ${json.error_description.slice(0, 200)}` : ''
      throw new DirectoryFailure(`the directory refused gatehouse's service app (${err}${desc})`)
    }
    const ttlS = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 300
    const header = `Bearer ${json.access_token}`
    cached = { header, untilMs: deps.now() + Math.max(0, ttlS - 60) * 1000 }
    return header
  }

  return {
    async header(signal) {
      if (cached !== undefined && deps.now() < cached.untilMs) return cached.header
      pending ??= fetchToken(signal).finally(() => (pending = undefined))
      return pending
    },
    forget() {
      cached = undefined
    },
  }
}
