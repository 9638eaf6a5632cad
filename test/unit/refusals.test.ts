import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { REFUSALS } from '../../src/server/pages/refusals.js'

describe('docs/errors.md: the HTTP refusals', () => {
  const page = readFileSync('docs/errors.md', 'utf8')
  const documented = new Map(
    [...page.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| ([^|]+) \|/gm)].map((m) => [m[1] as string, { status: Number(m[2]), title: (m[3] as string).trim() }]),
  )
  const table = Object.entries(REFUSALS).map(([code, e]) => [code, { status: e.status, title: e.title }] as const)

  it('documents every refusal with its status and title', () => {
    expect(table.filter(([code, want]) => JSON.stringify(documented.get(code)) !== JSON.stringify(want))).toEqual([])
  })
  it('documents no refusal that does not exist', () => {
    expect([...documented.keys()].filter((c) => !(c in REFUSALS))).toEqual([])
  })
  it('codes whose status depends on the cause say so', () => {
    for (const [code, e] of Object.entries(REFUSALS)) {
      if ('statusNote' in e) expect(page, code).toMatch(new RegExp(`\\| \`${code}\` \\|[^\\n]*\\b(4|5)\\d\\d\\b[^\\n]*\\b(4|5)\\d\\d\\b`))
    }
  })
})

describe('the refusal table is the only list of refusal codes', () => {
  it('every `error:` code the server writes is in the table', async () => {
    const { readdirSync } = await import('node:fs')
    const files = readdirSync('src/server', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
    const used = new Set<string>()
    // The IdP's logout channels answer in the words of their specs (OAuth `invalid_request`, `invalid_token`), not gatehouse's.
    for (const f of files.filter((f) => !f.endsWith('logout-channels.ts')))
      for (const m of readFileSync(`src/server/${f}`, 'utf8').matchAll(/\berror: '([a-z_]+)'/g)) used.add(m[1] as string)
    expect(used.size).toBeGreaterThan(0)
    expect([...used].filter((c) => !(c in REFUSALS))).toEqual([])
  })
})
