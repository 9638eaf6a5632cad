/** Config text compiled the way `gatehouse check` does it, for unit tests of config keys. */
import { compileConfigText, type CompiledConfig, type Problem } from '../../src/config/index.js'

/** The keys every test config needs (an Okta custom server, a client, a cookie secret), without routes. */
export const BASE_CONFIG = `insecure_server: true
idp_provider_url: https://acme.okta.com/oauth2/default
idp_client_id: 0oa1
idp_client_secret: s3cret
cookie_secret: fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=
`

/** Compiles `text` as gatehouse.yaml with no environment; any `*_file` it names does not exist. */
export function compileText(text: string): ReturnType<typeof compileConfigText> {
  return compileConfigText(text, 'gatehouse.yaml', {}, () => {
    throw Object.assign(new Error('missing'), { code: 'ENOENT' })
  })
}

/** The compiled config; a config with problems fails the test, listing them. */
export function configOf(text: string): CompiledConfig {
  const r = compileText(text)
  if ('problems' in r) throw new Error(JSON.stringify(r.problems))
  return r.config
}

/** The problems of a config that must be refused; a config that compiles fails the test. */
export function problemsOf(text: string): Problem[] {
  const r = compileText(text)
  if (!('problems' in r)) throw new Error('expected problems')
  return r.problems
}
