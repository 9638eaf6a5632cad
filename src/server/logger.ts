/**
 * pino, JSON, one line per event. Log calls pass explicit fields; redaction is
 * the second line of defence so that a cookie, an Authorization header, a
 * code or a token never reaches a log even if someone logs a whole object.
 */
import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from '../config/types.js'

// Exact paths only: wildcard redaction costs more per log line than the rest
// of a proxied request. Log calls never pass tokens; these catch a mistake.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'idToken',
  'accessToken',
  'refreshToken',
  'cookieValue',
  'session.idToken',
  'session.accessToken',
  'session.refreshToken',
  'tokens',
]

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { svc: 'gatehouse' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Buffered, asynchronous writes to stdout: a log line per request must not
    // cost a write system call per request. flush() on shutdown.
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  )
  // A quiet server still shows its log lines within a second.
  if (destination === undefined) setInterval(() => logger.flush(), 1000).unref()
  return logger
}
