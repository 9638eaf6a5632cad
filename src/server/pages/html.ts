/** Escaping and the one page layout every gatehouse page shares. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

/** A tagged template that escapes every interpolated value unless it is `raw()`. */
export interface Raw {
  readonly __raw: string
}

export function raw(s: string): Raw {
  return { __raw: s }
}

export function html(strings: TemplateStringsArray, ...values: Array<string | number | Raw | readonly Raw[] | undefined>): Raw {
  let out = strings[0] as string
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v === undefined) out += ''
    else if (typeof v === 'string') out += escapeHtml(v)
    else if (typeof v === 'number') out += String(v)
    else if (Array.isArray(v)) out += (v as readonly Raw[]).map((r) => r.__raw).join('')
    else out += (v as Raw).__raw
    out += strings[i + 1] as string
  }
  return { __raw: out }
}

const STYLE = `
  :root { color-scheme: light dark; --fg:#1d2433; --muted:#5b6475; --bg:#f6f7f9; --card:#fff; --accent:#2f5bd3; --bad:#b42318; --ok:#067647; --line:#e4e7ec }
  @media (prefers-color-scheme: dark) { :root { --fg:#e6e8ec; --muted:#a3abb9; --bg:#12151b; --card:#1b2029; --accent:#7c9cf5; --bad:#f97066; --ok:#47cd89; --line:#2c3340 } }
  * { box-sizing: border-box }
  body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg) }
  main { max-width: 640px; margin: 8vh auto; padding: 0 16px }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:28px 32px }
  h1 { font-size: 22px; margin: 0 0 6px }
  .status { color:var(--muted); font-size:13px; letter-spacing:.04em; text-transform:uppercase; margin-bottom:14px }
  .status.bad { color:var(--bad) } .status.ok { color:var(--ok) } .status.warn { color:var(--bad); text-transform:none; letter-spacing:0; margin:12px 0 }
  p { margin: 10px 0 } .muted { color:var(--muted) }
  dl { display:grid; grid-template-columns: max-content 1fr; gap:6px 16px; margin:18px 0 }
  dt { color:var(--muted) } dd { margin:0; word-break: break-word }
  code, .reason { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13.5px }
  .reason { display:block; background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:10px 12px; margin:12px 0 }
  .groups span { display:inline-block; background:var(--bg); border:1px solid var(--line); border-radius:999px; padding:1px 10px; margin:2px 4px 2px 0; font-size:13px }
  button, .button { font: inherit; background:var(--accent); color:#fff; border:0; border-radius:6px; padding:8px 16px; cursor:pointer; text-decoration:none; display:inline-block }
  footer { margin-top: 14px; color:var(--muted); font-size:12px }
`

export function layout(title: string, body: Raw, requestId?: string): string {
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <title>${title} · gatehouse</title>
        <style>
          ${raw(STYLE)}
        </style>
      </head>
      <body>
        <main>
          <div class="card">${body}</div>
          <footer>gatehouse${requestId === undefined ? '' : ` · request ${requestId}`}</footer>
        </main>
      </body>
    </html>`
  return page.__raw
}
