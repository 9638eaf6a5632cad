/**
 * A Pomerium key that restricts access is never ignored: each one gatehouse
 * does not implement is a config error with its position and what to do, so a
 * restriction cannot silently disappear when a Pomerium config moves over.
 */
import { describe, expect, it } from 'vitest'
import { compileConfigText } from '../../src/config/index.js'
import { GLOBAL_KEYS, ROUTE_KEYS } from '../../src/config/keys.js'

function compile(globalLine: string, routeLine: string) {
  return compileConfigText(
    `insecure_server: true
idp_provider_url: https://acme.okta.com
idp_client_id: x
idp_client_secret: y
cookie_secret: ${Buffer.alloc(32, 1).toString('base64')}
${globalLine}
routes:
  - from: https://app.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
    ${routeLine}
`,
    'gatehouse.yaml',
    {},
  )
}

const refusedGlobal = GLOBAL_KEYS.filter((k) => k.status === 'refused').map((k) => k.key)
const refusedRoute = ROUTE_KEYS.filter((k) => k.status === 'refused').map((k) => k.key)

describe('Pomerium keys that restrict access', () => {
  it('include the ones a migrated config relies on', () => {
    expect(refusedGlobal).toEqual(expect.arrayContaining(['idp_request_params', 'metrics_basic_auth', 'metrics_client_ca']))
    expect(refusedRoute).toEqual(
      expect.arrayContaining(['allowed_idp_claims', 'idp_client_id', 'regex_rewrite_pattern', 'regex_priority_order', 'host_rewrite_header']),
    )
  })

  it('the keys the review found ignored are implemented now, not warned about (enforcement: test/integration/downstream-mtls.test.ts)', () => {
    const status = (key: string) => [...GLOBAL_KEYS, ...ROUTE_KEYS].filter((k) => k.key === key).map((k) => k.status)
    for (const key of ['downstream_mtls', 'client_ca', 'xff_num_trusted_hops']) expect(status(key), key).toEqual(['supported'])
    for (const key of ['tls_downstream_client_ca', 'tls_downstream_client_ca_file']) expect(status(key), key).toEqual(['supported'])
    // client_ca_file is client_ca's file form.
    expect(GLOBAL_KEYS.find((k) => k.key === 'client_ca')?.hasFile).toBe(true)
  })

  for (const key of refusedGlobal) {
    it(`global ${key}: a config error at its position, with what to do`, () => {
      const r = compile(`${key}: x`, '')
      if (!('problems' in r)) throw new Error(`${key} loaded`)
      expect(r.problems).toContainEqual(
        expect.objectContaining({ code: 'CONFIG_UNSUPPORTED_RESTRICTION', line: 6, col: 1, path: key, hint: expect.any(String) }),
      )
    })
  }
  for (const key of refusedRoute) {
    it(`route ${key}: a config error at its position, with what to do`, () => {
      const r = compile('', `${key}: x`)
      if (!('problems' in r)) throw new Error(`${key} loaded`)
      expect(r.problems).toContainEqual(
        expect.objectContaining({ code: 'CONFIG_UNSUPPORTED_RESTRICTION', line: 11, col: 5, path: `routes[0].${key}`, hint: expect.any(String) }),
      )
    })
  }

  it('keys that restrict nothing still load, with a warning', () => {
    const r = compile('tracing_provider: jaeger', 'description: x')
    if (!('config' in r)) throw new Error(JSON.stringify(r.problems))
    expect(r.config.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['CONFIG_UNSUPPORTED_KEY']))
  })
})
