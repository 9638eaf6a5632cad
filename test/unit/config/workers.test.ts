import { describe, expect, it } from 'vitest'
import { compileConfigText, formatProblem, type Problem } from '../../../src/config/index.js'

const SECRET = 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk='
const BASE = `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret: s3cret
cookie_secret: ${SECRET}
`
const REDIS = 'databroker_storage_type: redis\ndatabroker_storage_connection_string: redis://127.0.0.1:6379\n'
const ROUTE = `routes:
  - from: https://app.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
`

function load(text: string, env: Record<string, string> = {}) {
  return compileConfigText(text, 'gatehouse.yaml', env, () => {
    throw Object.assign(new Error('missing'), { code: 'ENOENT' })
  })
}
function problems(text: string, env: Record<string, string> = {}): Problem[] {
  const r = load(text, env)
  if (!('problems' in r)) throw new Error('expected problems')
  return r.problems
}

describe('workers', () => {
  const accepted: Array<{ name: string; yaml: string; env?: Record<string, string>; want: number | 'auto' }> = [
    { name: 'absent: one process, as before', yaml: '', want: 1 },
    { name: 'one worker with Redis', yaml: `workers: 1\n${REDIS}`, want: 1 },
    { name: 'a number with Redis', yaml: `workers: 4\n${REDIS}`, want: 4 },
    { name: 'auto with Redis', yaml: `workers: auto\n${REDIS}`, want: 'auto' },
    {
      name: 'a number with Postgres',
      yaml: 'workers: 3\ndatabroker_storage_type: postgres\ndatabroker_storage_connection_string: postgresql://gatehouse@db:5432/gatehouse\n',
      want: 3,
    },
    { name: 'a quoted number', yaml: `workers: "2"\n${REDIS}`, want: 2 },
    { name: 'one worker with the memory store', yaml: 'workers: 1\n', want: 1 },
    { name: 'from the environment (WORKERS)', yaml: REDIS, env: { WORKERS: '3' }, want: 3 },
    { name: 'the environment wins over the file', yaml: `workers: 2\n${REDIS}`, env: { WORKERS: 'auto' }, want: 'auto' },
  ]
  for (const c of accepted) {
    it(`accepts ${c.name}`, () => {
      const r = load(BASE + c.yaml + ROUTE, c.env)
      if ('problems' in r) throw new Error(r.problems.map(formatProblem).join('\n'))
      expect(r.config.workers).toBe(c.want)
    })
  }

  const refused: Array<{ name: string; yaml: string; env?: Record<string, string>; at: string; code: string; text: RegExp }> = [
    { name: 'zero', yaml: `workers: 0\n${REDIS}`, at: 'gatehouse.yaml:6:10 workers', code: 'CONFIG_BAD_VALUE', text: /1 to 256, or auto/ },
    { name: 'a fraction', yaml: `workers: 1.5\n${REDIS}`, at: 'gatehouse.yaml:6:10 workers', code: 'CONFIG_BAD_VALUE', text: /whole number/ },
    { name: 'a word', yaml: `workers: many\n${REDIS}`, at: 'gatehouse.yaml:6:10 workers', code: 'CONFIG_BAD_VALUE', text: /found "many"/ },
    { name: 'too many', yaml: `workers: 10000\n${REDIS}`, at: 'gatehouse.yaml:6:10 workers', code: 'CONFIG_BAD_VALUE', text: /1 to 256/ },
    {
      name: 'more than one with the memory store named',
      yaml: 'databroker_storage_type: memory\nworkers: 2\n',
      at: 'gatehouse.yaml:6:26 databroker_storage_type',
      code: 'CONFIG_CONFLICT',
      text: /workers: 2 needs a session store the workers share.*set databroker_storage_type: redis \(or postgres\)/,
    },
    {
      name: 'more than one with the default memory store',
      yaml: 'workers: 2\n',
      at: 'gatehouse.yaml:6:10 workers',
      code: 'CONFIG_CONFLICT',
      text: /databroker_storage_type is memory/,
    },
    { name: 'auto with the memory store', yaml: 'workers: auto\n', at: 'gatehouse.yaml:6:10 workers', code: 'CONFIG_CONFLICT', text: /workers: auto needs/ },
    {
      name: 'more than one with the file store (kept in memory)',
      yaml: 'databroker_storage_type: file\nworkers: 2\n',
      at: 'gatehouse.yaml:6:26 databroker_storage_type',
      code: 'CONFIG_CONFLICT',
      text: /needs a session store the workers share/,
    },
    {
      name: 'a bad value from the environment, naming it',
      yaml: REDIS,
      env: { WORKERS: 'lots' },
      at: 'environment variable WORKERS:1:1 workers',
      code: 'CONFIG_BAD_VALUE',
      text: /found "lots"/,
    },
  ]
  for (const c of refused) {
    it(`refuses ${c.name}, with the position and the fix`, () => {
      const ps = problems(BASE + c.yaml + ROUTE, c.env)
      expect(ps).toHaveLength(1)
      const p = ps[0] as Problem
      expect(`${p.file}:${p.line}:${p.col} ${p.path}`).toBe(c.at)
      expect(p.code).toBe(c.code)
      expect(`${p.message} ${p.hint ?? ''}`).toMatch(c.text)
    })
  }
})
