/**
 * The docker-compose examples: every file a service mounts exists, each gatehouse config passes
 * `gatehouse check` with the environment the compose file gives it, and the forward-auth example's
 * Caddyfile is accepted by the real Caddy (`caddy adapt`) and sends what gatehouse expects.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { run as check } from '../../src/commands/check.js'
import { CADDY_PATH, requireCaddy } from '../helpers/proxies.js'

const DIR = 'deploy'
const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.forward-auth.yml']

interface Service {
  environment?: Record<string, string>
  volumes?: string[]
}
interface Compose {
  services: Record<string, Service>
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>
}

/** What `docker compose up` would take from the shell for the ${…} in the compose file. */
const SHELL_ENV: Record<string, string> = {
  OKTA_CLIENT_ID: '0oa1example',
  OKTA_CLIENT_SECRET: 'client-secret',
  COOKIE_SECRET: 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk=',
}

function serviceEnv(service: Service): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = String(v).replace(/\$\{(\w+)\}/g, (_m, name: string) => SHELL_ENV[name] ?? '')
  return env
}

describe.each(COMPOSE_FILES)('deploy/%s', (file) => {
  const compose = parse(readFileSync(join(DIR, file), 'utf8')) as Compose

  it('mounts files that exist', () => {
    const sources = Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0] ?? ''))
    expect(sources.length).toBeGreaterThan(0)
    for (const source of sources) expect(existsSync(join(DIR, source)), source).toBe(true)
  })

  it('gives gatehouse a config that gatehouse check accepts', async () => {
    const gatehouse = compose.services.gatehouse
    if (gatehouse === undefined) throw new Error('no gatehouse service')
    const mount = (gatehouse.volumes ?? []).find((v) => v.split(':')[1] === '/etc/gatehouse/config.yaml')
    if (mount === undefined) throw new Error('gatehouse does not mount /etc/gatehouse/config.yaml (the image runs that file)')
    let out = ''
    let err = ''
    const code = await check(['-c', join(DIR, mount.split(':')[0] ?? '')], {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      env: serviceEnv(gatehouse),
      cwd: process.cwd(),
    })
    expect(code, err).toBe(0)
    expect(out).toMatch(/^ok: /)
  })
})

describe('deploy/docker-compose.forward-auth.yml', () => {
  const compose = parse(readFileSync(join(DIR, 'docker-compose.forward-auth.yml'), 'utf8')) as Compose
  const config = parse(readFileSync(join(DIR, 'gatehouse.forward-auth.yaml'), 'utf8')) as { trusted_proxies: string[]; routes: { from: string }[] }

  it('publishes only Caddy, and trusts exactly the compose network to ask forward-auth questions', () => {
    const published = Object.entries(compose.services).filter(([, s]) => 'ports' in s)
    expect(published.map(([name]) => name)).toEqual(['caddy'])
    expect(config.trusted_proxies).toEqual([compose.networks?.edge?.ipam?.config?.[0]?.subnet])
  })

  it.skipIf(!requireCaddy())('has a Caddyfile the real Caddy accepts: /.gatehouse/ to gatehouse, everything else through forward_auth', () => {
    const r = spawnSync(CADDY_PATH as string, ['adapt', '--config', join(DIR, 'Caddyfile.forward-auth'), '--adapter', 'caddyfile'], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    const json = r.stdout
    // The site is the route's host, gatehouse's own paths go to gatehouse, and the check asks /.gatehouse/forward_auth.
    expect(json).toContain(`"host":["${new URL(config.routes[0]?.from ?? '').hostname}"]`)
    expect(json).toContain('"path":["/.gatehouse/*"]')
    expect(json).toContain('"uri":"/.gatehouse/forward_auth"')
    expect(json).toContain('"X-Forwarded-Uri":["{http.request.uri}"]')
    for (const h of ['X-Gatehouse-Jwt-Assertion', 'X-Auth-Request-User', 'X-Auth-Request-Email', 'X-Auth-Request-Groups'])
      expect(json).toContain(`"${h}":["{http.reverse_proxy.header.${h}}"]`)
  })
})
