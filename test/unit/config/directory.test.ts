import { describe, expect, it } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { compileConfigText, type CompiledConfig, type Problem } from '../../../src/config/index.js'

const BASE = `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret: s3cret
cookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=
`
const ROUTES = 'routes:\n  - from: https://app.corp.example\n    to: http://app:8080\n    allow_any_authenticated_user: true\n'
const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

function load(text: string, files: Record<string, string> = {}): { config: CompiledConfig } | { problems: Problem[] } {
  const r = compileConfigText(text, 'gatehouse.yaml', {}, (p) => {
    const f = files[p]
    if (f === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' })
    return f
  })
  return 'problems' in r ? { problems: r.problems } : { config: r.config }
}
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64')

describe('directory keys', () => {
  it("idp_service_account: Pomerium's base64 JSON with api_key, read for the org of idp_provider_url, with Pomerium's defaults", () => {
    const r = load(BASE + `idp_service_account: ${b64({ api_key: '00abc' })}\n` + ROUTES)
    expect('config' in r && r.config.directory).toEqual({
      orgUrl: 'https://acme.okta.com',
      credential: { kind: 'api_token', apiToken: '00abc' },
      refreshIntervalMs: 600_000,
      timeoutMs: 60_000,
      lookup: 'when_incomplete',
    })
  })

  it('the service-app form, with interval, timeout and always', () => {
    const r = load(
      BASE +
        'idp_directory_client_id: 0oa-dir\nidp_directory_private_key_file: /k.pem\nidp_directory_key_id: kid1\nidp_refresh_directory_interval: 5m\nidp_refresh_directory_timeout: 20s\nidp_directory_groups: always\n' +
        ROUTES,
      { '/k.pem': PEM },
    )
    expect('config' in r && r.config.directory).toMatchObject({
      credential: { kind: 'service_app', clientId: '0oa-dir', keyId: 'kid1' },
      refreshIntervalMs: 300_000,
      timeoutMs: 20_000,
      lookup: 'always',
    })
  })

  it('no directory keys: no directory', () => {
    const r = load(BASE + ROUTES)
    expect('config' in r && r.config.directory).toBeUndefined()
  })

  const bad: Array<[string, string, RegExp]> = [
    ['a service account that is not JSON', 'idp_service_account: bm90IGpzb24=\n', /base64 of a JSON object/],
    ['a service account without api_key', `idp_service_account: ${b64({ client_id: 'x' })}\n`, /no api_key/],
    ['both forms', `idp_service_account: ${b64({ api_key: 'x' })}\nidp_directory_client_id: 0oa\nidp_directory_private_key_file: /k.pem\n`, /not both/],
    ['a client id without a key', 'idp_directory_client_id: 0oa\n', /needs idp_directory_private_key_file/],
    ['a key that is not a key', 'idp_directory_client_id: 0oa\nidp_directory_private_key_file: /bad.pem\n', /PEM RSA or EC private key/],
    ['a bad lookup mode', `idp_service_account: ${b64({ api_key: 'x' })}\nidp_directory_groups: sometimes\n`, /when_incomplete, always/],
  ]
  for (const [name, extra, want] of bad) {
    it(`refuses ${name}`, () => {
      const r = load(BASE + extra + ROUTES, { '/k.pem': PEM, '/bad.pem': 'nope' })
      expect('problems' in r).toBe(true)
      if ('problems' in r) expect(r.problems.map((p) => p.message).join('\n')).toMatch(want)
    })
  }
})
