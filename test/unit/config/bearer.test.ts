import { describe, expect, it } from 'vitest'
import { BASE_CONFIG, configOf, problemsOf } from '../../helpers/config-text.js'

const BASE = BASE_CONFIG
const route = (extra = ''): string => `  - from: https://app.corp.example
    to: http://app:8080
    allow_any_authenticated_user: true
${extra}`

const config = configOf
const problems = problemsOf

describe('bearer token keys', () => {
  it('default: the header is not interpreted', () => {
    expect(config(BASE + 'routes:\n' + route()).routes[0]?.bearer).toEqual({ format: 'default' })
  })

  it('global format and audiences apply to every route; a route overrides either, and sets pass_bearer_token', () => {
    const c = config(
      BASE +
        'bearer_token_format: idp_access_token\nidp_access_token_allowed_audiences: [api://default]\nroutes:\n' +
        route() +
        route('    idp_access_token_allowed_audiences: api://reports\n    pass_bearer_token: true\n') +
        route('    bearer_token_format: default\n') +
        route('    bearer_token_format: idp_identity_token\n'),
    )
    expect(c.routes.map((r) => r.bearer)).toEqual([
      { format: 'idp_access_token', allowedAudiences: ['api://default'], passToken: false },
      { format: 'idp_access_token', allowedAudiences: ['api://reports'], passToken: true },
      { format: 'default' },
      { format: 'idp_identity_token', passToken: false },
    ])
  })

  it('idp_access_token without an audience list is a config error, at the key that turned it on', () => {
    const onRoute = problems(BASE + 'routes:\n' + route('    bearer_token_format: idp_access_token\n'))
    expect(onRoute).toMatchObject([{ path: 'routes[0].bearer_token_format', code: 'CONFIG_MISSING_KEY', line: 10 }])
    expect(onRoute[0]?.message).toMatch(/needs idp_access_token_allowed_audiences/)
    const global = problems(BASE + 'bearer_token_format: idp_access_token\nroutes:\n' + route())
    expect(global).toMatchObject([{ path: 'routes[0]', code: 'CONFIG_MISSING_KEY' }])
    expect(global[0]?.message).toMatch(/\(set globally\)/)
  })

  it('refuses an unknown format and an empty audience list', () => {
    expect(problems(BASE + 'bearer_token_format: jwt\nroutes:\n' + route())[0]?.message).toMatch(/default, idp_access_token, idp_identity_token/)
    expect(problems(BASE + 'idp_access_token_allowed_audiences: []\nroutes:\n' + route())[0]?.message).toMatch(/at least one audience/)
  })

  it('the old placeholder keys are gone: bearer_token and directory are unknown keys', () => {
    const ps = problems(BASE + 'bearer_token: {}\ndirectory: {}\nroutes:\n' + route())
    expect(ps.map((p) => p.code)).toEqual(['CONFIG_UNKNOWN_KEY', 'CONFIG_UNKNOWN_KEY'])
  })
})
