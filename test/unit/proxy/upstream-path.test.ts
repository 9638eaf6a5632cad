import { describe, expect, it } from 'vitest'
import { upstreamPath } from '../../../src/proxy/path.js'
import type { CompiledRoute, PathMatcher } from '../../../src/config/types.js'

const route = (path: PathMatcher, prefixRewrite?: string) => ({ path, prefixRewrite }) as unknown as CompiledRoute

describe("upstreamPath (Pomerium's prefix_rewrite and `to` path)", () => {
  const cases: Array<[string, CompiledRoute, string, string, string]> = [
    ['no rewrite', route({ kind: 'any' }), '/a/b', '/', '/a/b'],
    ['prefix / rewritten to /', route({ kind: 'prefix', prefix: '/grafana' }, '/'), '/grafana/d/x', '/', '/d/x'],
    ['prefix exactly', route({ kind: 'prefix', prefix: '/grafana' }, '/'), '/grafana', '/', '/'],
    ['prefix with slash to another', route({ kind: 'prefix', prefix: '/api/' }, '/v2/'), '/api/items', '/', '/v2/items'],
    ['prefix without slash to another', route({ kind: 'prefix', prefix: '/api' }, '/v2'), '/api/items', '/', '/v2/items'],
    ['to has a path', route({ kind: 'any' }), '/page', '/base', '/base/page'],
    ['to has a path with a slash', route({ kind: 'any' }), '/page', '/base/', '/base/page'],
    ['both', route({ kind: 'prefix', prefix: '/app' }, '/'), '/app/x', '/base', '/base/x'],
  ]
  for (const [name, r, path, toPath, want] of cases) it(name, () => expect(upstreamPath(r, path, toPath)).toBe(want))
})
