/**
 * `gatehouse check` on configs in Pomerium's own shape, for the gaps a run of
 * Pomerium's examples found: the Postgres store (both connection-string forms
 * and the _file variant), the file store, a plain-http Keycloak, no
 * certificate, and no identity provider at all.
 */
import { describe, expect, it } from 'vitest'
import { X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, type CliRun } from '../../helpers/cli.js'
import { loadConfig } from '../../../src/config/index.js'
import { parsePostgresDsn } from '../../../src/config/postgres-dsn.js'
import { generateSelfSigned } from '../../../src/config/self-signed.js'
import { makeCa, opensslAvailable } from '../../helpers/pki.js'

const DIR = 'test/fixtures/config/pomerium-compat'

const check = (file: string): Promise<CliRun> => runCli(['check', '-c', file])

describe('Pomerium HA config: databroker_storage_type postgres', () => {
  it('loads with the URI form', async () => {
    const r = await check(`${DIR}/ha-postgres.yaml`)
    expect(r.code).toBe(0)
    expect(r.out).toContain('session store: postgres')
    const loaded = loadConfig({ file: `${DIR}/ha-postgres.yaml`, env: {} })
    if (!('config' in loaded)) throw new Error('expected a config')
    expect(loaded.config.storage).toMatchObject({
      type: 'postgres',
      connection: { host: 'database', port: 5432, database: 'postgres', user: 'postgres', password: 'postgres', ssl: false },
    })
  })

  it('loads with the keyword/value form (quoted values included)', async () => {
    const r = await check(`${DIR}/ha-postgres-keyword.yaml`)
    expect(r.code).toBe(0)
    const loaded = loadConfig({ file: `${DIR}/ha-postgres-keyword.yaml`, env: {} })
    if (!('config' in loaded)) throw new Error('expected a config')
    expect(loaded.config.storage).toMatchObject({
      type: 'postgres',
      connection: { host: 'database', database: 'pomerium', user: 'pomerium', password: 'p@ss word' },
    })
  })

  it('reads databroker_storage_connection_string_file, and says which file it cannot read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compat-'))
    writeFileSync(join(dir, 'dsn'), 'postgresql://gh:secret@db.internal:6432/sessions?sslmode=disable\n')
    const text = readFileSync(`${DIR}/ha-postgres.yaml`, 'utf8').replace(
      /^databroker_storage_connection_string: .*$/m,
      `databroker_storage_connection_string_file: ${join(dir, 'dsn')}`,
    )
    writeFileSync(join(dir, 'pomerium.yaml'), text)
    const ok = loadConfig({ file: join(dir, 'pomerium.yaml'), env: {} })
    if (!('config' in ok)) throw new Error('expected a config')
    expect(ok.config.storage).toMatchObject({ type: 'postgres', connection: { host: 'db.internal', port: 6432, database: 'sessions' } })

    writeFileSync(join(dir, 'pomerium.yaml'), text.replace(join(dir, 'dsn'), join(dir, 'missing')))
    const r = await check(join(dir, 'pomerium.yaml'))
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/databroker_storage_connection_string_file: cannot read .*missing \(ENOENT\)/)
  })

  it('refuses a malformed connection string with its position, without echoing the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compat-'))
    const text = readFileSync(`${DIR}/ha-postgres.yaml`, 'utf8').replace(
      /^databroker_storage_connection_string: .*$/m,
      'databroker_storage_connection_string: postgresql://u:hunter2@db/x?sslmode=sometimes',
    )
    writeFileSync(join(dir, 'pomerium.yaml'), text)
    const r = await check(join(dir, 'pomerium.yaml'))
    expect(r.code).toBe(1)
    expect(r.err).toMatch(
      /pomerium\.yaml:10:\d+ databroker_storage_connection_string: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full/,
    )
    expect(r.err).not.toContain('hunter2')
  })
})

describe('Pomerium file storage', () => {
  it('loads with a warning that names it, and keeps sessions in memory', async () => {
    const r = await check(`${DIR}/file-storage.yaml`)
    expect(r.code).toBe(0)
    expect(r.err).toMatch(
      /warning: .*file-storage\.yaml:8:\d+ databroker_storage_type: databroker_storage_type "file" is not supported: sessions are kept in memory/,
    )
    expect(r.err).toContain('use databroker_storage_type: postgres')
    expect(r.out).toContain('session store: memory')
  })
})

describe('plain-http IdP on another host (Keycloak in docker-compose)', () => {
  it('loads with a warning that names the risk', async () => {
    const r = await check(`${DIR}/keycloak-plain-http.yaml`)
    expect(r.code).toBe(0)
    expect(r.err).toMatch(
      /warning: .*keycloak-plain-http\.yaml:4:\d+ idp_provider_url: idp_provider_url uses plain http to keycloak:8080: anyone on that network path can read the tokens/,
    )
    const loaded = loadConfig({ file: `${DIR}/keycloak-plain-http.yaml`, env: {} })
    expect('config' in loaded && loaded.warnings.map((w) => w.code)).toContain('CONFIG_INSECURE_IDP_URL')
  })
})

describe('no certificate_file and no insecure_server', () => {
  it('serves HTTPS with a self-signed certificate for the route hosts, with a warning', async () => {
    const r = await check(`${DIR}/no-certificate.yaml`)
    expect(r.code).toBe(0)
    expect(r.err).toMatch(
      /warning: .* certificate_file: no certificate_file and no insecure_server: serving HTTPS with a self-signed certificate .*verify\.corp\.example, grafana\.corp\.example/,
    )
    const loaded = loadConfig({ file: `${DIR}/no-certificate.yaml`, env: {} })
    if (!('config' in loaded)) throw new Error('expected a config')
    const cert = new X509Certificate(loaded.config.certificatePem ?? '')
    expect(cert.checkHost('verify.corp.example')).toBe('verify.corp.example')
    expect(cert.checkHost('grafana.corp.example')).toBe('grafana.corp.example')
    expect(cert.checkHost('evil.example')).toBeUndefined()
    expect(cert.verify(cert.publicKey)).toBe(true)
  })
})

describe('the generated certificate', () => {
  it('is valid DER every time (a serial number with a leading zero byte was refused by OpenSSL)', () => {
    for (let i = 0; i < 300; i++) {
      const g = generateSelfSigned(['app.corp.example', '127.0.0.1'])
      expect(() => createSecureContext({ cert: g.certificatePem, key: g.keyPem })).not.toThrow()
    }
  })
})

describe('no idp_provider at all (Pomerium hosted authenticate)', () => {
  it('is an error that says exactly that, and what to set', async () => {
    const r = await check(`${DIR}/hosted-authenticate.yaml`)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/hosted-authenticate\.yaml:2:1 idp_provider: no idp_provider: this config relies on Pomerium's hosted authenticate service/)
    expect(r.err).toContain('set idp_provider: okta (or oidc), idp_provider_url')
    // One problem for one cause, not a missing-key list.
    expect(r.err).not.toContain('idp_client_id is required')
    expect(r.err).toMatch(/\n1 problem in /)
  })
})

describe('Postgres connection strings', () => {
  const noFiles = (p: string): string => {
    if (p === '/etc/ca.pem') return 'CA PEM'
    throw Object.assign(new Error('missing'), { code: 'ENOENT' })
  }
  const cases: Array<{ name: string; dsn: string; want: Record<string, unknown> | RegExp }> = [
    { name: 'URI, defaults', dsn: 'postgres://db/sessions', want: { host: 'db', port: 5432, database: 'sessions', ssl: false } },
    { name: 'URI, percent-encoded password', dsn: 'postgresql://gh:p%40ss@db:6543/s', want: { user: 'gh', password: 'p@ss', port: 6543 } },
    {
      name: 'URI, verify-full with a CA file',
      dsn: 'postgresql://db/s?sslmode=verify-full&sslrootcert=/etc/ca.pem',
      want: { ssl: { verify: 'full', ca: 'CA PEM' } },
    },
    { name: 'URI, require (encrypted, unverified as libpq)', dsn: 'postgresql://db/s?sslmode=require', want: { ssl: { verify: 'none' } } },
    { name: "URI, pgx's pool_max_conns", dsn: 'postgresql://db/s?pool_max_conns=25', want: { poolMax: 25 } },
    { name: 'keyword/value', dsn: "host=db port=5433 dbname=s user=u password='a b\\'c'", want: { host: 'db', port: 5433, password: "a b'c" } },
    { name: 'IPv6 host', dsn: 'postgresql://[::1]:5432/s', want: { host: '::1' } },
    { name: 'unknown parameter', dsn: 'postgresql://db/s?sslmod=disable', want: /unknown connection parameter "sslmod"/ },
    { name: 'several hosts', dsn: 'postgresql://a:5432,b:5432/s', want: /not a valid postgresql|several hosts/ },
    { name: 'bad port', dsn: 'host=db port=99999', want: /port must be 1-65535/ },
    { name: 'unterminated quote', dsn: "host=db password='abc", want: /unterminated quoted value/ },
    { name: 'unreadable CA file', dsn: 'postgresql://db/s?sslmode=verify-ca&sslrootcert=/nope.pem', want: /cannot read sslrootcert \/nope\.pem \(ENOENT\)/ },
    { name: 'not a DSN', dsn: 'mysql://db/s', want: /postgresql:\/\/ URI or libpq keyword\/value/ },
  ]
  for (const c of cases)
    it(c.name, () => {
      const r = parsePostgresDsn(c.dsn, noFiles)
      if (c.want instanceof RegExp) {
        expect(r.ok).toBe(false)
        if (!r.ok) expect(r.problem).toMatch(c.want)
      } else {
        expect(r.ok && r.connection).toMatchObject(c.want)
      }
    })
})

describe('keys that restrict access are implemented or refused, never ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compat-mtls-'))
  const ca = opensslAvailable('downstream_mtls check cases') ? makeCa(dir, 'compat').file : undefined
  const base = readFileSync(`${DIR}/no-certificate.yaml`, 'utf8')
  const write = (extra: string): string => {
    const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(f, extra + base)
    return f
  }
  it.skipIf(ca === undefined)('downstream_mtls with ca_file and xff_num_trusted_hops load (Pomerium shape)', async () => {
    const r = await check(write(`downstream_mtls:\n  ca_file: ${ca}\n  enforcement: reject_connection\nxff_num_trusted_hops: 1\n`))
    expect(r.code).toBe(0)
    expect(r.err).not.toContain('not supported')
  })
  const refused: Array<[string, string, RegExp]> = [
    ['a CRL', `downstream_mtls:\n  ca_file: CA\n  crl_file: /etc/crl.pem\n`, /downstream_mtls\.crl_file is not supported, and it would restrict access/],
    [
      'enforcement: policy',
      `downstream_mtls:\n  ca_file: CA\n  enforcement: policy\n`,
      /client_certificate policy criterion, which gatehouse does not implement/,
    ],
    [
      'mTLS on plain HTTP',
      `insecure_server: true\ndownstream_mtls:\n  ca_file: CA\n`,
      /client certificates need gatehouse to terminate TLS, but insecure_server is true/,
    ],
    [
      'a CA file that holds no certificate',
      `downstream_mtls:\n  ca_file: ${DIR}/no-certificate.yaml\n`,
      /downstream_mtls\.ca_file must be a file of PEM CA certificates/,
    ],
    ['a negative hop count', `xff_num_trusted_hops: -1\n`, /xff_num_trusted_hops must be a whole number 0-16/],
  ]
  for (const [name, extra, want] of refused)
    it.skipIf(ca === undefined)(`refuses ${name}`, async () => {
      const r = await check(write(extra.replace('CA', ca ?? '')))
      expect(r.code).toBe(1)
      expect(r.err).toMatch(want)
    })
})
