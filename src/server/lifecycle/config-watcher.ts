/**
 * Reload on change: watches the config file's directory (editors replace the
 * file; Kubernetes swaps a `..data` symlink) and SIGHUP, then loads the file
 * again. A valid config is handed to `apply`; an invalid one is reported and
 * the old config keeps serving. Reloads never overlap.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'

export interface ConfigWatcherOptions<C> {
  readonly file: string
  /** Load and compile; `problems` when the file is invalid. */
  readonly load: () => Promise<{ config: C } | { problems: readonly string[] }>
  readonly apply: (config: C) => Promise<void> | void
  readonly onRefused: (problems: readonly string[]) => void
  readonly onError?: (err: unknown) => void
  /** Coalesce bursts of file events (an editor's write + rename). */
  readonly debounceMs?: number
}

export interface ConfigWatcher {
  /** Reload now. `force` (SIGHUP) reloads even when the file's text is unchanged: a `*_file` it names may have changed. */
  reload(force?: boolean): Promise<'applied' | 'refused' | 'unchanged'>
  close(): void
}

export function watchConfig<C>(opts: ConfigWatcherOptions<C>): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 200
  let lastText: string | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<'applied' | 'refused' | 'unchanged'> | undefined
  let again = false

  // Read now, synchronously: a change landing while an asynchronous first read
  // is pending would otherwise be taken as the starting text and missed.
  try {
    lastText = readFileSync(opts.file, 'utf8')
  } catch {
    lastText = undefined
  }

  async function reloadOnce(force: boolean): Promise<'applied' | 'refused' | 'unchanged'> {
    let text: string | undefined
    try {
      text = await readFile(opts.file, 'utf8')
    } catch {
      text = undefined
    }
    if (!force && text !== undefined && text === lastText) return 'unchanged'
    const result = await opts.load()
    if ('problems' in result) {
      opts.onRefused(result.problems)
      return 'refused'
    }
    await opts.apply(result.config)
    lastText = text
    return 'applied'
  }

  function reload(force = false): Promise<'applied' | 'refused' | 'unchanged'> {
    if (running !== undefined) {
      again = true
      return running
    }
    running = reloadOnce(force)
      .catch((err: unknown) => {
        opts.onError?.(err)
        return 'refused' as const
      })
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          void reload()
        }
      })
    return running
  }

  const name = basename(opts.file)
  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dirname(opts.file), { persistent: false }, (_event, changed) => {
      // ConfigMap updates touch `..data`; editors touch the file or a temp file next to it.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => void reload(), debounceMs)
      timer.unref()
    })
    watcher.on('error', (err) => opts.onError?.(err))
  } catch (err) {
    opts.onError?.(err)
  }

  return {
    reload,
    close() {
      if (timer !== undefined) clearTimeout(timer)
      watcher?.close()
    },
  }
}
