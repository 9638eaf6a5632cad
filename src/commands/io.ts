import { parseArgs, type ParseArgsConfig } from 'node:util'

import { formatProblem, loadConfig, type CompiledConfig } from '../config/index.js'

type ParseArgsOptionConfig = NonNullable<ParseArgsConfig['options']>[string]

/** What a command may touch: injected so commands run in tests without a child process. */
export interface CommandIO {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
}

export type Command = (argv: string[], io: CommandIO) => Promise<number>

export function configPath(flag: string | undefined, io: CommandIO): string {
  return flag ?? io.env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml'
}

/**
 * Parse a command's options with node:util parseArgs, answering `--help` and
 * usage errors itself: returns the values, or the exit code to return.
 */
export function parseCommand<const O extends Record<string, ParseArgsOptionConfig>>(
  argv: string[],
  options: O,
  usage: string,
  io: CommandIO,
): ReturnType<typeof parseArgs<{ args: string[]; options: O & { help: { type: 'boolean'; short: 'h' } }; strict: true }>>['values'] | number {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } },
      strict: true,
    })
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${usage}\n`)
    return 2
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    io.stdout(`${usage}\n`)
    return 0
  }
  return parsed.values
}

/** Load the config for a command; on problems, print each as file:line:col and give undefined (the command exits 1). */
export function loadConfigOrReport(file: string, io: CommandIO, env: Readonly<Record<string, string | undefined>> = io.env): CompiledConfig | undefined {
  const result = loadConfig({ file, env })
  if (!('problems' in result)) return result.config
  for (const p of result.problems) io.stderr(`${formatProblem(p)}\n`)
  return undefined
}
