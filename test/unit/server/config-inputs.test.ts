import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileConfigInputs, loadConfigInputs } from '../../../src/server/lifecycle/config-inputs.js'
import { restartDelayMs } from '../../../src/server/lifecycle/supervisor.js'

const SECRET = 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk='

function write(dir: string, cookieSecret: boolean, route = 'a'): string {
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(join(dir, 'client-secret'), 'from-a-file\n')
  writeFileSync(
    file,
    `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret_file: ${join(dir, 'client-secret')}
${cookieSecret ? `cookie_secret: ${SECRET}\n` : ''}databroker_storage_type: redis
databroker_storage_connection_string: \${REDIS_URL}
workers: 2
routes:
  - from: https://${route}.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
`,
  )
  return file
}

describe('config inputs for workers', () => {
  it('a worker compiles exactly what the primary validated, without reading the disk again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-inputs-'))
    const file = write(dir, true)
    const primary = loadConfigInputs(file, { REDIS_URL: 'redis://127.0.0.1:6379' })
    if ('problems' in primary) throw new Error(JSON.stringify(primary.problems))
    // The file changes (and turns invalid) after validation; the secret file is gone.
    writeFileSync(file, 'not: [valid')
    writeFileSync(join(dir, 'client-secret'), 'changed')
    const worker = compileConfigInputs(primary.inputs)
    if ('problems' in worker) throw new Error(JSON.stringify(worker.problems))
    expect(worker.config.routes.map((r) => r.host)).toEqual(['a.corp.example'])
    expect(worker.config.idp.clientSecret).toBe('from-a-file')
    expect(worker.config.storage).toEqual({ type: 'redis', connectionString: 'redis://127.0.0.1:6379' })
    expect(Buffer.from(worker.config.cookie.secret).toString('base64')).toBe(SECRET)
  })

  it('a generated cookie_secret is the same in every worker and across reloads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-inputs-'))
    const file = write(dir, false)
    const primary = loadConfigInputs(file, { REDIS_URL: 'redis://127.0.0.1:6379' })
    if ('problems' in primary) throw new Error(JSON.stringify(primary.problems))
    expect(primary.config.cookie.secretGenerated).toBe(true)
    const secret = Buffer.from(primary.config.cookie.secret).toString('base64')
    for (let i = 0; i < 3; i++) {
      const w = compileConfigInputs(primary.inputs)
      if ('problems' in w) throw new Error('worker')
      expect(Buffer.from(w.config.cookie.secret).toString('base64')).toBe(secret)
    }
    write(dir, false, 'b')
    const reloaded = loadConfigInputs(file, { REDIS_URL: 'redis://127.0.0.1:6379' }, primary.inputs.generatedCookieSecret)
    if ('problems' in reloaded) throw new Error('reload')
    const w = compileConfigInputs(reloaded.inputs)
    if ('problems' in w) throw new Error('worker')
    expect(w.config.routes.map((r) => r.host)).toEqual(['b.corp.example'])
    expect(Buffer.from(w.config.cookie.secret).toString('base64')).toBe(secret)
  })

  it('restarts back off: 0.1 s, doubling, at most 30 s', () => {
    expect([1, 2, 3, 4, 10, 20, 50].map(restartDelayMs)).toEqual([100, 200, 400, 800, 30_000, 30_000, 30_000])
  })
})
