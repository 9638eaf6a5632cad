/** Config reload for a running gatehouse: file watch + SIGHUP → load → swap, with metrics and log lines. */
import type { Logger } from 'pino'
import { formatProblem, loadConfig, type CompiledConfig } from '../../config/index.js'
import { watchConfig, type ConfigWatcher } from './config-watcher.js'
import type { Metrics } from '../telemetry/metrics.js'
import type { RunningGatehouse } from './start.js'

export interface ReloadOptions {
  readonly file: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly gh: RunningGatehouse
  readonly log: Logger
  readonly metrics: Metrics
  readonly debounceMs?: number
  /** Told after every reload attempt (tests wait on it). */
  readonly onReload?: (result: 'applied' | 'refused') => void
}

export function watchAndReload(o: ReloadOptions): ConfigWatcher {
  return watchConfig<CompiledConfig>({
    file: o.file,
    ...(o.debounceMs === undefined ? {} : { debounceMs: o.debounceMs }),
    load: async () => {
      const r = loadConfig({ file: o.file, env: o.env })
      return 'problems' in r ? { problems: r.problems.map(formatProblem) } : { config: r.config }
    },
    apply: (config) => {
      const restart = o.gh.reload(config)
      o.metrics.configReloads.inc({ result: 'ok' })
      o.metrics.configLastReloadSuccess.set(1)
      o.metrics.configLastReloadSuccessTimestamp.set(Date.now() / 1000)
      o.log.info({ routes: config.routes.length }, 'config reloaded')
      if (restart.length > 0) o.log.warn({ keys: restart }, 'these settings changed but need a restart to take effect; the old values are still in use')
      o.onReload?.('applied')
    },
    onRefused: (problems) => {
      o.metrics.configReloads.inc({ result: 'refused' })
      o.metrics.configLastReloadSuccess.set(0)
      o.log.error({ problems }, 'config reload refused; the previous config keeps serving')
      o.onReload?.('refused')
    },
    onError: (err) => o.log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'config watch error'),
  })
}
