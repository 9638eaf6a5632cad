/**
 * Time criteria: date, day_of_week, time_of_day (Enterprise-only in Pomerium,
 * plain features here). Timezones are resolved at compile time with
 * Intl.DateTimeFormat; evaluation formats one timestamp, nothing more.
 */
import type { CriterionDef } from './types.js'
import type { Problem } from '../matchers.js'

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function zoneFormatter(tz: unknown, problem: Problem): Intl.DateTimeFormat | undefined {
  const zone = tz === undefined ? 'UTC' : tz
  if (typeof zone !== 'string') {
    problem('timezone must be an IANA name such as Europe/Berlin')
    return undefined
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' })
  } catch {
    problem(`unknown timezone "${zone}"`, 'use an IANA name such as Europe/Berlin or America/New_York')
    return undefined
  }
}

function localParts(fmt: Intl.DateTimeFormat, nowMs: number): { day: number; seconds: number } {
  let day = 0
  let h = 0
  let m = 0
  let s = 0
  for (const p of fmt.formatToParts(nowMs)) {
    if (p.type === 'weekday') day = DAYS.indexOf(p.value.slice(0, 3).toLowerCase() as (typeof DAYS)[number])
    else if (p.type === 'hour') h = Number(p.value)
    else if (p.type === 'minute') m = Number(p.value)
    else if (p.type === 'second') s = Number(p.value)
  }
  return { day, seconds: h * 3600 + m * 60 + s }
}

function parseInstant(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime()
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : t
}

export const date: CriterionDef = {
  name: 'date',
  needsSession: false,
  compile(value, name, problem) {
    if (!isPlainObject(value)) {
      problem('date takes {after: …, before: …} with RFC 3339 times')
      return undefined
    }
    const after = value.after === undefined ? undefined : parseInstant(value.after)
    const before = value.before === undefined ? undefined : parseInstant(value.before)
    if ((value.after !== undefined && after === undefined) || (value.before !== undefined && before === undefined)) {
      problem('date values must be RFC 3339 times such as 2026-01-31T18:00:00Z')
      return undefined
    }
    for (const k of Object.keys(value)) if (k !== 'after' && k !== 'before') problem(`unknown date operator "${k}"`, 'valid: after, before')
    if (after === undefined && before === undefined) {
      problem('date needs after, before, or both')
      return undefined
    }
    const text = [after === undefined ? '' : `after ${new Date(after).toISOString()}`, before === undefined ? '' : `before ${new Date(before).toISOString()}`]
      .filter(Boolean)
      .join(' and ')
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, _r, now) => (after === undefined || now > after) && (before === undefined || now < before),
      describe: (_w, _r, now, ok) => `date: ${new Date(now).toISOString()} is ${ok ? '' : 'not '}${text}`,
      own: (_w, _r, now) => new Date(now).toISOString(),
    }
  },
}

function parseDays(spec: unknown, problem: Problem): Set<number> | undefined {
  const items = Array.isArray(spec) ? spec : typeof spec === 'string' ? spec.split(',') : undefined
  if (items === undefined) {
    problem('day_of_week takes days such as "mon-fri" or [sat, sun]')
    return undefined
  }
  const set = new Set<number>()
  for (const item of items) {
    if (typeof item !== 'string') {
      problem('day_of_week entries must be day names')
      return undefined
    }
    const [a, b, extra] = item.trim().toLowerCase().split('-')
    const from = DAYS.indexOf((a ?? '').slice(0, 3) as (typeof DAYS)[number])
    const to = b === undefined ? from : DAYS.indexOf(b.slice(0, 3) as (typeof DAYS)[number])
    if (from < 0 || to < 0 || extra !== undefined) {
      problem(`"${item}" is not a day or range of days`, 'use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri')
      return undefined
    }
    for (let d = from; ; d = (d + 1) % 7) {
      set.add(d)
      if (d === to) break
    }
  }
  return set
}

export const dayOfWeek: CriterionDef = {
  name: 'day_of_week',
  needsSession: false,
  compile(value, name, problem) {
    const spec = isPlainObject(value) ? value.days : value
    const fmt = zoneFormatter(isPlainObject(value) ? value.timezone : undefined, problem)
    const days = parseDays(spec, problem)
    if (fmt === undefined || days === undefined) return undefined
    const text = [...days]
      .sort()
      .map((d) => DAYS[d])
      .join(', ')
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, _r, now) => days.has(localParts(fmt, now).day),
      describe: (_w, _r, now, ok) => `day_of_week: ${DAYS[localParts(fmt, now).day]} is ${ok ? '' : 'not '}one of ${text}`,
      own: (_w, _r, now) => String(DAYS[localParts(fmt, now).day]),
    }
  },
}

function parseClock(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(v.trim())
  if (m === null) return undefined
  const h = Number(m[1])
  const min = Number(m[2])
  const s = Number(m[3] ?? 0)
  if (h > 23 || min > 59 || s > 59) return undefined
  return h * 3600 + min * 60 + s
}

export const timeOfDay: CriterionDef = {
  name: 'time_of_day',
  needsSession: false,
  compile(value, name, problem) {
    if (!isPlainObject(value)) {
      problem('time_of_day takes {timezone: …, after: "HH:MM", before: "HH:MM"}')
      return undefined
    }
    const fmt = zoneFormatter(value.timezone, problem)
    const after = value.after === undefined ? undefined : parseClock(value.after)
    const before = value.before === undefined ? undefined : parseClock(value.before)
    if ((value.after !== undefined && after === undefined) || (value.before !== undefined && before === undefined)) {
      problem('time_of_day times must be HH:MM or HH:MM:SS (24-hour)')
      return undefined
    }
    if (after === undefined && before === undefined) {
      problem('time_of_day needs after, before, or both')
      return undefined
    }
    if (fmt === undefined) return undefined
    // after > before is a window across midnight (22:00–06:00).
    const inWindow = (t: number): boolean =>
      after !== undefined && before !== undefined && after > before
        ? t >= after || t < before
        : (after === undefined || t >= after) && (before === undefined || t < before)
    const text = `${after === undefined ? '' : `after ${value.after as string}`}${after !== undefined && before !== undefined ? ' and ' : ''}${before === undefined ? '' : `before ${value.before as string}`} (${(value.timezone as string | undefined) ?? 'UTC'})`
    const clock = (t: number): string => `${String(Math.floor(t / 3600)).padStart(2, '0')}:${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}`
    return {
      name,
      needsSession: false,
      fact: undefined,
      test: (_w, _r, now) => inWindow(localParts(fmt, now).seconds),
      describe: (_w, _r, now, ok) => `time_of_day: ${clock(localParts(fmt, now).seconds)} is ${ok ? '' : 'not '}${text}`,
      own: (_w, _r, now) => clock(localParts(fmt, now).seconds),
    }
  },
}
