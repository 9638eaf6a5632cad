import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Agent, fetch as undiciFetch } from 'undici'
import { compileConfigText } from '../../src/config/index.js'
import { createLogger } from '../../src/server/telemetry/logger.js'
import { startGatehouse, type RunningGatehouse } from '../../src/server/lifecycle/start.js'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { freePort } from '../helpers/stack.js'
import { issueCert, makeCa, opensslAvailable } from '../helpers/pki.js'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'

const hasOpenssl = opensslAvailable('TLS suite')

/** A private CA and a certificate for the given names. */
function makeCerts(dir: string, names: string[]): { ca: string; cert: string; key: string; caFile: string; certFile: string; keyFile: string } {
  const ca = makeCa(dir, 'gatehouse test')
  const srv = issueCert(dir, ca, 'srv', { altNames: names })
  return { ca: ca.pem, caFile: ca.file, ...srv }
}

describe.skipIf(!hasOpenssl)('TLS', () => {
  let gh: RunningGatehouse
  const upstreams: LocalServer[] = []
  let port: number
  let agent: Agent
  let idp: DevIdp
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'))
    const certs = makeCerts(dir, ['app.localhost', 'ca.localhost', 'skip.localhost', 'strict.localhost', '127.0.0.1'])
    // One upstream per TLS setting: TLS trust is per upstream origin.
    const ups: string[] = []
    for (let i = 0; i < 4; i++) {
      const u = await listenLocal(
        https.createServer({ cert: certs.cert, key: certs.key }, (_req, res) => res.end('over tls')),
        'https',
      )
      upstreams.push(u)
      ups.push(u.url)
    }
    port = await freePort()
    idp = await startDevIdp({
      users: [{ username: 'a', password: 'a', email: 'a@example.com' }],
      clients: [{ client_id: 'x', client_secret: 'y', redirect_uris: [`https://app.localhost:${port}/.gatehouse/callback`] }],
    })
    const cfg = compileConfigText(
      `address: 127.0.0.1:${port}
certificate_file: ${certs.certFile}
certificate_key_file: ${certs.keyFile}
idp_provider_url: ${idp.issuer}
idp_client_id: x
idp_client_secret: y
cookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=
routes:
  - from: https://strict.localhost
    to: ${ups[0]}
    allow_public_unauthenticated_access: true
  - from: https://ca.localhost
    to: ${ups[1]}
    tls_custom_ca_file: ${certs.caFile}
    allow_public_unauthenticated_access: true
  - from: https://skip.localhost
    to: ${ups[2]}
    tls_skip_verify: true
    allow_public_unauthenticated_access: true
  - from: https://app.localhost
    to: ${ups[3]}
    allow_any_authenticated_user: true
`,
      'tls.yaml',
      {},
    )
    if ('problems' in cfg) throw new Error(JSON.stringify(cfg.problems))
    gh = await startGatehouse({ config: cfg.config, log: createLogger('error', new Writable({ write: (_c, _e, cb) => cb() })) })
    await gh.identity.ready()
    agent = new Agent({ connect: { ca: certs.ca, lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) } })
  })
  afterAll(async () => {
    await gh?.close()
    await idp?.close()
    for (const u of upstreams) await u.close()
  })
  const get = (host: string, path = '/') =>
    undiciFetch(`https://${host}:${port}${path}`, { dispatcher: agent, redirect: 'manual', headers: { accept: 'text/html' } })

  it('serves HTTPS from certificate_file', async () => {
    expect(gh.url.startsWith('https://')).toBe(true)
    expect((await get('ca.localhost')).status).toBe(200)
  })

  it('verifies upstream certificates by default; tls_custom_ca_file and tls_skip_verify are the ways to change that', async () => {
    expect((await get('strict.localhost')).status).toBe(502)
    const ok = await get('ca.localhost')
    expect(await ok.text()).toBe('over tls')
    expect((await get('skip.localhost')).status).toBe(200)
  })

  it('refuses routes that disagree about how to verify the same upstream', () => {
    const r = compileConfigText(
      `insecure_server: true\nidp_provider_url: https://a.okta.com\nidp_client_id: x\nidp_client_secret: y\nroutes:\n  - from: https://a.example\n    to: https://up.internal\n    allow_any_authenticated_user: true\n  - from: https://b.example\n    to: https://up.internal\n    tls_skip_verify: true\n    allow_any_authenticated_user: true\n`,
      'c.yaml',
      {},
    )
    expect('problems' in r && r.problems[0]?.code).toBe('CONFIG_CONFLICT')
  })

  it('on HTTPS, cookies are Secure and use the __Host- prefix', async () => {
    const res = await get('app.localhost')
    expect(res.status).toBe(302)
    expect(new URL(res.headers.get('location') ?? '').searchParams.get('redirect_uri')).toBe(`https://app.localhost:${port}/.gatehouse/callback`)
    const login = res.headers.getSetCookie().find((c) => c.startsWith('__Host-_gatehouse_login_'))
    expect(login).toMatch(/; Path=\/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$/)
  })
})
