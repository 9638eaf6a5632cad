/** Runs the gatehouse CLI in-process, as an operator would from a shell, and keeps what it printed. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/cli.js'
import { CLIENT_ID, CLIENT_SECRET } from './stack.js'

export interface CliRun {
  readonly code: number
  readonly out: string
  readonly err: string
  /** stdout and stderr in the order they were written. */
  readonly all: string
}

export async function runCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliRun> {
  let out = ''
  let err = ''
  let all = ''
  const code = await main([...args], {
    stdout: (t) => void ((out += t), (all += t)),
    stderr: (t) => void ((err += t), (all += t)),
    env,
    cwd: process.cwd(),
  })
  return { code, out, err, all }
}

/**
 * A config file for operator commands (`sessions`, `check --online`) against a running stack: the
 * same IdP, client, cookie secret and store; `store` is the store's YAML lines (storeYaml).
 */
export function writeOperatorConfig(
  s: { idp: { issuer: string }; cookieSecret: string; port: number },
  store: string,
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-')),
): string {
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(
    file,
    [
      'insecure_server: true',
      `idp_provider_url: ${s.idp.issuer}`,
      `idp_client_id: ${CLIENT_ID}`,
      `idp_client_secret: ${CLIENT_SECRET}`,
      `cookie_secret: ${s.cookieSecret}`,
      store.trimEnd(),
      'routes:',
      `  - from: http://app.localhost:${s.port}`,
      '    to: http://127.0.0.1:1',
      '    allow_any_authenticated_user: true',
      '',
    ].join('\n'),
  )
  return file
}
