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
