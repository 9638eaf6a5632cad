/**
 * Over real TLS: the self-signed certificate gatehouse makes when a config
 * has none; downstream mTLS in Pomerium's two enforcement modes (495 page, or
 * the handshake refused); and xff_num_trusted_hops deciding the client
 * address a source_ip policy sees.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { compileConfigText } from '../../src/config/index.js'
import { createLogger } from '../../src/server/telemetry/logger.js'
import { startGatehouse, type RunningGatehouse } from '../../src/server/lifecycle/start.js'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { freePort } from '../helpers/stack.js'
import { issueCert, makeCa, opensslAvailable } from '../helpers/pki.js'

const hasOpenssl = opensslAvailable('downstream mTLS suite')
const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

interface ClientPki {
  caPem: string
  caFile: string
  cert: string
  key: string
}

/** A client CA and one client certificate it issued. */
function clientPki(dir: string, name: string): ClientPki {
  const ca = makeCa(dir, `${name} client`)
  const client = issueCert(dir, ca, `${name}-client`, { clientAuth: true })
  return { caPem: ca.pem, caFile: ca.file, cert: client.cert, key: client.key }
}

async function upstream(): Promise<LocalServer> {
  const u = await listenLocal(http.createServer((req, res) => res.end(`hello ${req.headers['x-forwarded-for'] ?? ''}`)))
  closers.push(() => u.close())
  return u
}

async function gatehouse(yaml: string): Promise<{ gh: RunningGatehouse; port: number; serverCa: string }> {
  const port = await freePort()
  const cfg = compileConfigText(
    `address: 127.0.0.1:${port}
idp_provider_url: http://127.0.0.1:1/oauth2/default
idp_client_id: x
idp_client_secret: y
cookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=
${yaml.replace(/PORT/g, String(port))}`,
    'mtls.yaml',
    {},
  )
  if ('problems' in cfg) throw new Error(JSON.stringify(cfg.problems))
  const gh = await startGatehouse({ config: cfg.config, log: createLogger('error', new Writable({ write: (_c, _e, cb) => cb() })) })
  closers.push(() => gh.close())
  return { gh, port, serverCa: cfg.config.certificatePem ?? '' }
}

/** An HTTPS GET that trusts `ca` and checks the certificate's name against `host`; a handshake failure resolves as { error }. */
function get(
  port: number,
  host: string,
  ca: string,
  client?: { cert: string; key: string },
  headers: Record<string, string> = {},
  path = '/',
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, servername: host, headers: { host, accept: 'application/json', ...headers }, ca, ...(client ?? {}), agent: false },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    req.end()
  })
}

describe.skipIf(!hasOpenssl)('HTTPS without certificate_file', () => {
  it('serves a self-signed certificate that names the route hosts and verifies against itself', async () => {
    const up = await upstream()
    const { port, serverCa } = await gatehouse(`routes:
  - from: https://app.localhost
    to: ${up.url}
    allow_public_unauthenticated_access: true
`)
    const ok = await get(port, 'app.localhost', serverCa)
    expect(ok).toMatchObject({ status: 200 })
    // The certificate names the route hosts only.
    expect(await get(port, 'other.example', serverCa)).toMatchObject({ error: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  })
})

describe.skipIf(!hasOpenssl)('downstream mTLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mtls-'))
  const trusted = hasOpenssl ? clientPki(dir, 'trusted') : undefined
  const stranger = hasOpenssl ? clientPki(dir, 'stranger') : undefined

  it('policy_with_default_deny (the default): no certificate or a foreign one gets 495; a valid one passes', async () => {
    const up = await upstream()
    const { port, serverCa } = await gatehouse(`downstream_mtls:
  ca: ${Buffer.from(trusted?.caPem ?? '').toString('base64')}
routes:
  - from: https://app.localhost
    to: ${up.url}
    allow_public_unauthenticated_access: true
`)
    const none = await get(port, 'app.localhost', serverCa)
    expect(none).toMatchObject({ status: 495 })
    expect(JSON.parse((none as { body: string }).body)).toMatchObject({ error: 'invalid_client_certificate' })
    expect(await get(port, 'app.localhost', serverCa, stranger)).toMatchObject({ status: 495 })
    expect(await get(port, 'app.localhost', serverCa, trusted)).toMatchObject({ status: 200 })
    // Health probes carry no certificate and still answer.
    expect(await get(port, 'app.localhost', serverCa, undefined, {}, '/healthz')).toMatchObject({ status: 200 })
  })

  it('reject_connection (with the older client_ca_file key): the handshake fails without a valid certificate', async () => {
    const up = await upstream()
    const { port, serverCa } = await gatehouse(`client_ca_file: ${trusted?.caFile}
downstream_mtls:
  enforcement: reject_connection
routes:
  - from: https://app.localhost
    to: ${up.url}
    allow_public_unauthenticated_access: true
`)
    const none = await get(port, 'app.localhost', serverCa)
    expect('error' in none).toBe(true)
    expect('error' in (await get(port, 'app.localhost', serverCa, stranger))).toBe(true)
    expect(await get(port, 'app.localhost', serverCa, trusted)).toMatchObject({ status: 200 })
  })

  it("a route's tls_downstream_client_ca joins the bundle: every request then needs a certificate", async () => {
    const up = await upstream()
    const { port, serverCa } = await gatehouse(`routes:
  - from: https://app.localhost
    to: ${up.url}
    tls_downstream_client_ca: ${Buffer.from(trusted?.caPem ?? '').toString('base64')}
    allow_public_unauthenticated_access: true
`)
    expect(await get(port, 'app.localhost', serverCa)).toMatchObject({ status: 495 })
    expect(await get(port, 'app.localhost', serverCa, trusted)).toMatchObject({ status: 200 })
  })
})

describe.skipIf(!hasOpenssl)('xff_num_trusted_hops', () => {
  it('a source_ip policy sees the address the load balancer in front appended, not the peer and not what the client wrote', async () => {
    const up = await upstream()
    const { port, serverCa } = await gatehouse(`xff_num_trusted_hops: 1
routes:
  - from: https://app.localhost
    to: ${up.url}
    policy:
      - allow:
          or:
            - source_ip: 10.0.0.0/8
`)
    // The load balancer appended 10.1.2.3 (the client it saw); the client wrote 192.0.2.66 itself.
    expect(await get(port, 'app.localhost', serverCa, undefined, { 'x-forwarded-for': '192.0.2.66, 10.1.2.3' })).toMatchObject({ status: 200 })
    expect(await get(port, 'app.localhost', serverCa, undefined, { 'x-forwarded-for': '10.9.9.9, 192.0.2.66' })).toMatchObject({ status: 403 })
    // No header: the peer (127.0.0.1) is the client, outside 10/8.
    expect(await get(port, 'app.localhost', serverCa)).toMatchObject({ status: 403 })
  })
})
