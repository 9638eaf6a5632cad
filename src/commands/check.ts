/** `gatehouse check [-c FILE]`: validate a config; `ok` and a summary, or every problem with its position. */
import { formatProblem, loadConfig } from '../config/index.js'
import { configPath, parseCommand, type CommandIO } from './io.js'
import { oktaWarnings } from './okta-warnings.js'

export const usage = 'usage: gatehouse check [-c FILE] [--online [--login [--login-port N] [--login-timeout S]]]'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const args = parseCommand(
    argv,
    {
      config: { type: 'string', short: 'c' },
      online: { type: 'boolean' },
      login: { type: 'boolean' },
      'login-port': { type: 'string', default: '8765' },
      'login-timeout': { type: 'string', default: '300' },
    },
    `${usage}\n  Validates the config and prints every problem as file:line:col.\n  --online also checks the IdP (discovery, keys, client credentials) and the session store.\n  --login (with --online) signs a person in on a loopback listener and shows what Okta sent and what each route decides.`,
    io,
  )
  if (typeof args === 'number') return args
  const file = configPath(args.config, io)
  const result = loadConfig({ file, env: io.env })
  for (const w of result.warnings) io.stderr(`warning: ${formatProblem(w)}\n`)
  if ('problems' in result) {
    for (const p of result.problems) io.stderr(`${formatProblem(p)}\n`)
    io.stderr(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${file}\n`)
    return 1
  }
  const c = result.config
  for (const w of oktaWarnings(c)) io.stderr(`warning: ${w}\n`)
  const hosts = new Set(c.routes.map((r) => r.host))
  io.stdout(
    `ok: ${file}\n  ${c.routes.length} route${c.routes.length === 1 ? '' : 's'} on ${hosts.size} host${hosts.size === 1 ? '' : 's'}, ${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'}\n  identity provider: ${c.idp.provider} ${c.idp.providerUrl}\n  session store: ${c.storage.type}\n`,
  )
  for (const r of c.routes) io.stdout(`  ${r.id} -> ${r.to.map((u) => u.url.href + (u.weight === 1 ? '' : `,${u.weight}`)).join(' ')}\n`)
  if (args.login === true && args.online !== true) {
    io.stderr(`--login needs --online\n${usage}\n`)
    return 2
  }
  if (args.online === true) {
    const { checkOnline } = await import('./check-online.js')
    const online = await checkOnline(c, io)
    if (args.login !== true) return online
    const port = Number(args['login-port'])
    const timeoutS = Number(args['login-timeout'])
    if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(timeoutS) || timeoutS <= 0) {
      io.stderr(`--login-port must be a port (0 for any) and --login-timeout a number of seconds\n${usage}\n`)
      return 2
    }
    const { checkLogin } = await import('./check-login.js')
    const login = await checkLogin(c, io, { port, timeoutMs: timeoutS * 1000 })
    return Math.max(online, login)
  }
  return 0
}
