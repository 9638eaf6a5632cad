/**
 * `gatehouse serve [-c FILE]`: run the proxy. SIGHUP or a change to the file
 * reloads the config (a bad one is refused and the old one keeps serving);
 * SIGTERM/SIGINT drain requests in flight and exit 0.
 */
import { resolve } from 'node:path'
import { formatProblem, loadConfig } from '../config/index.js'
import { watchAndReload } from '../server/lifecycle/reload.js'
import { createLogger } from '../server/telemetry/logger.js'
import { createMetrics, serveMetrics } from '../server/telemetry/metrics.js'
import { startGatehouse } from '../server/lifecycle/start.js'
import { configPath, parseCommand, type CommandIO } from './io.js'

export const usage = 'usage: gatehouse serve [-c FILE]'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const args = parseCommand(argv, { config: { type: 'string', short: 'c' } }, usage, io)
  if (typeof args === 'number') return args
  const file = resolve(io.cwd, configPath(args.config, io))
  const loaded = loadConfig({ file, env: io.env })
  if ('problems' in loaded) {
    for (const p of loaded.problems) io.stderr(`${formatProblem(p)}\n`)
    io.stderr(`gatehouse: the config has ${loaded.problems.length} problem(s); not starting\n`)
    return 1
  }
  const log = createLogger(loaded.config.logLevel)
  for (const w of loaded.warnings) log.warn({ at: `${w.file}:${w.line}:${w.col}`, path: w.path, code: w.code }, w.message)
  const metrics = createMetrics()
  const gh = await startGatehouse({ config: loaded.config, log, metrics })
  const metricsServer = loaded.config.metricsAddress === undefined ? undefined : await serveMetrics(metrics, loaded.config.metricsAddress)
  if (metricsServer !== undefined) log.info({ url: metricsServer.url }, 'metrics listening')

  const watcher = watchAndReload({ file, env: io.env, gh, log, metrics })

  return new Promise<number>((done) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'shutting down: draining requests in flight')
      watcher.close()
      process.off('SIGHUP', hup)
      Promise.all([gh.close(), metricsServer?.close()]).then(
        () => {
          log.info('stopped')
          log.flush()
          done(0)
        },
        (err: unknown) => {
          log.error({ err: { message: String(err) } }, 'error while stopping')
          done(1)
        },
      )
    }
    const hup = (): void => void watcher.reload(true)
    process.on('SIGHUP', hup)
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}
