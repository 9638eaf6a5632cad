/**
 * `gatehouse serve [-c FILE] [--workers N|auto]`: run the proxy. SIGHUP or a
 * change to the file reloads the config (a bad one is refused and the old one
 * keeps serving); SIGTERM/SIGINT drain requests in flight and exit 0. With
 * more than one worker, this process becomes the primary of a cluster and the
 * same command, forked, runs each worker.
 */
import cluster from 'node:cluster'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { formatProblem } from '../config/index.js'
import { WORKER_SLOT_ENV } from '../server/lifecycle/cluster-messages.js'
import { loadConfigInputs } from '../server/lifecycle/config-inputs.js'
import { watchAndReload } from '../server/lifecycle/reload.js'
import { startGatehouse } from '../server/lifecycle/start.js'
import { runSupervisor } from '../server/lifecycle/supervisor.js'
import { runWorker } from '../server/lifecycle/worker.js'
import { createLogDestination } from '../server/telemetry/log-destination.js'
import { createLogger } from '../server/telemetry/logger.js'
import { createMetrics, serveMetrics } from '../server/telemetry/metrics.js'
import { configPath, parseCommand, type CommandIO } from './io.js'

export const usage = 'usage: gatehouse serve [-c FILE] [--workers N|auto]'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  // A forked worker of a cluster: the primary sends it the validated config.
  if (cluster.isWorker && process.env[WORKER_SLOT_ENV] !== undefined) return exitWorker(await runWorker())
  const args = parseCommand(argv, { config: { type: 'string', short: 'c' }, workers: { type: 'string' } }, usage, io)
  if (typeof args === 'number') return args
  if (args.workers !== undefined && !/^(\d+|auto)$/i.test(args.workers)) {
    io.stderr(`--workers must be a whole number or auto, not "${args.workers}"\n${usage}\n`)
    return 2
  }
  const file = resolve(io.cwd, configPath(args.config, io))
  // --workers is the WORKERS environment key given on the command line: it wins over the file, and reloads keep it.
  const env = args.workers === undefined ? io.env : { ...io.env, WORKERS: args.workers }
  const loaded = loadConfigInputs(file, env)
  if ('problems' in loaded) {
    for (const p of loaded.problems)
      io.stderr(`${formatProblem(p).replace(/^environment variable WORKERS workers:/, args.workers === undefined ? '$&' : '--workers:')}\n`)
    io.stderr(`gatehouse: the config has ${loaded.problems.length} problem(s); not starting\n`)
    return 1
  }
  const count = loaded.config.workers === 'auto' ? availableParallelism() : loaded.config.workers
  const log = createLogger(loaded.config.logLevel, count > 1 ? createLogDestination(1, { shared: true }) : undefined)
  for (const w of loaded.warnings) log.warn({ at: `${w.file}:${w.line}:${w.col}`, path: w.path, code: w.code }, w.message)
  if (count > 1) return runSupervisor({ count, file, env, first: loaded, log })
  const metrics = createMetrics()
  const gh = await startGatehouse({ config: loaded.config, log, metrics })
  const metricsServer = loaded.config.metricsAddress === undefined ? undefined : await serveMetrics(metrics, loaded.config.metricsAddress)
  if (metricsServer !== undefined) log.info({ url: metricsServer.url }, 'metrics listening')

  const watcher = watchAndReload({ file, env, gh, log, metrics })

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

/** A worker has drained: let go of the primary's channel (which keeps the process alive) and make sure the process ends. */
function exitWorker(code: number): number {
  if (process.connected) process.disconnect()
  setTimeout(() => process.exit(code), 2_000).unref()
  return code
}
