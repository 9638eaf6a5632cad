import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { main } from '../../../src/cli.js'

// The memory store (the default), one route.
const file = join(mkdtempSync(join(tmpdir(), 'gatehouse-serve-')), 'gatehouse.yaml')
writeFileSync(
  file,
  `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret: s3cret
cookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=
routes:
  - from: https://app.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
`,
)

async function run(argv: string[], env: Record<string, string> = {}) {
  let out = ''
  let err = ''
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env, cwd: process.cwd() })
  return { code, out, err }
}

const ENV = {}

describe('gatehouse serve --workers', () => {
  it('refuses a value that is not a number or auto, with the usage', async () => {
    const r = await run(['serve', '-c', file, '--workers', 'lots'], ENV)
    expect(r.code).toBe(2)
    expect(r.err).toContain('--workers must be a whole number or auto, not "lots"')
    expect(r.err).toContain('usage: gatehouse serve [-c FILE] [--workers N|auto]')
  })

  it('more than one worker with the memory store does not start, and the problem names --workers and the fix', async () => {
    const r = await run(['serve', '-c', file, '--workers', '2'], ENV)
    expect(r.code).toBe(1)
    expect(r.err).toContain('--workers: workers: 2 needs a session store the workers share')
    expect(r.err).toContain('set databroker_storage_type: redis (or postgres)')
    expect(r.err).toMatch(/the config has 1 problem\(s\); not starting/)
  })

  it('the same from WORKERS in the environment names the variable', async () => {
    const r = await run(['serve', '-c', file], { ...ENV, WORKERS: 'auto' })
    expect(r.code).toBe(1)
    expect(r.err).toContain('environment variable WORKERS workers: workers: auto needs a session store the workers share')
  })
})
