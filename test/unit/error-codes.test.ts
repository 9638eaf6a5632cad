import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { CONFIG_ERROR_CODES } from '../../src/config/index.js'
import { POLICY_ERROR_CODES } from '../../src/policy/index.js'
import { IDP_ERROR_CODES } from '../../src/identity/index.js'
import { SESSION_ERROR_CODES } from '../../src/session/index.js'

describe('docs/errors.md', () => {
  const page = readFileSync('docs/errors.md', 'utf8')
  const documented = new Set([...page.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]))
  const all = [...CONFIG_ERROR_CODES, ...POLICY_ERROR_CODES, ...IDP_ERROR_CODES, ...SESSION_ERROR_CODES]
  it('documents every error code', () => {
    expect(all.filter((c) => !documented.has(c))).toEqual([])
  })
  it('documents no code that does not exist', () => {
    expect([...documented].filter((c) => !all.includes(c as never))).toEqual([])
  })
})
