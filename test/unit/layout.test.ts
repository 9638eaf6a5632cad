/** The house rules of DESIGN.md's layout, checked on the import statements. */
import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'

function importsOf(folder: string): Array<{ file: string; spec: string; target: string }> {
  const out: Array<{ file: string; spec: string; target: string }> = []
  for (const f of readdirSync(folder, { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('.ts')) continue
    const file = join(folder, f)
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1] as string
      out.push({ file, spec, target: spec.startsWith('.') ? normalize(join(dirname(file), spec)) : spec })
    }
  }
  return out
}

const inside = (target: string, folder: string): boolean => target.startsWith(folder + '/')

describe('layout', () => {
  it('policy/ imports nothing of ours outside policy/ (but the error base class)', () => {
    expect(importsOf('src/policy').filter((i) => i.spec.startsWith('.') && !inside(i.target, 'src/policy') && i.target !== 'src/errors.js')).toEqual([])
  })
  it('config/ imports only policy/ (and the shared names and errors)', () => {
    const ok = (t: string) => inside(t, 'src/config') || inside(t, 'src/policy') || t === 'src/constants.js' || t === 'src/errors.js'
    expect(importsOf('src/config').filter((i) => i.spec.startsWith('.') && !ok(i.target))).toEqual([])
  })
  it('authorize/ imports no fastify, no sockets and nothing of server/', () => {
    const bad = importsOf('src/authorize').filter(
      (i) => i.spec === 'fastify' || i.spec.startsWith('node:http') || i.spec === 'node:net' || i.spec === 'node:stream' || inside(i.target, 'src/server'),
    )
    expect(bad).toEqual([])
  })
  it('no module-level WeakMap caches in the request path', () => {
    const files = ['src/server', 'src/authorize', 'src/proxy'].flatMap((d) =>
      readdirSync(d, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join(d, f)),
    )
    expect(files.filter((f) => /^const \w+ = new WeakMap/m.test(readFileSync(f, 'utf8')))).toEqual([])
  })
})
