#!/usr/bin/env node
/**
 * The `gatehouse` command: a table of subcommands, each a module exporting
 * `run(argv, io) → exit code`, loaded only when used.
 */
import type { CommandIO } from './commands/io.js'

type Loader = () => Promise<{ run: (argv: string[], io: CommandIO) => Promise<number> }>

const COMMANDS: Record<string, { summary: string; load: Loader }> = {
  serve: { summary: 'run the proxy', load: () => import('./commands/serve.js') },
  check: { summary: 'validate a config (add --online to test the IdP and store)', load: () => import('./commands/check.js') },
  explain: { summary: 'show which route matches a URL and why the policy decides as it does', load: () => import('./commands/explain.js') },
  demo: { summary: 'run the local demo: Okta-shaped IdP, demo upstream and gatehouse', load: () => import('./commands/demo.js') },
  keygen: { summary: 'print a new cookie_secret and signing_key', load: () => import('./commands/keygen.js') },
  sessions: { summary: 'list or revoke sessions in the configured store', load: () => import('./commands/sessions.js') },
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length))
  return `usage: gatehouse <command> [options]\n\n${Object.entries(COMMANDS)
    .map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)
    .join('\n')}\n\nRun gatehouse <command> --help for a command's options.\n`
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    ;(name === undefined ? io.stderr : io.stdout)(usage())
    return name === undefined ? 2 : 0
  }
  const cmd = COMMANDS[name]
  if (cmd === undefined) {
    io.stderr(`unknown command "${name}"\n${usage()}`)
    return 2
  }
  return (await cmd.load()).run(rest, io)
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isMain || process.argv[1]?.endsWith('/cli.js') === true) {
  const io: CommandIO = {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
  }
  main(process.argv.slice(2), io).then(
    (code) => {
      // serve and demo keep running; the others exit with their code.
      if (code >= 0) process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`gatehouse: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exitCode = 70
    },
  )
}
