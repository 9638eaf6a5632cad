/** The local IdP's pages: a plain sign-in form (scriptable by a test client) and an error page. */
import { escapeHtml } from '../server/pages/html.js'

const STYLE =
  'body{font:15px system-ui,sans-serif;background:#eef1f6;margin:0}main{max-width:380px;margin:10vh auto;background:#fff;border:1px solid #d8dde6;border-radius:8px;padding:28px}h1{font-size:20px;margin:0 0 4px}p.note{color:#5b6475;font-size:13px;margin:0 0 18px}label{display:block;margin:12px 0 4px;font-size:13px}input{width:100%;box-sizing:border-box;padding:8px;border:1px solid #c4cbd6;border-radius:4px;font:inherit}button{margin-top:18px;width:100%;padding:9px;background:#1662dd;color:#fff;border:0;border-radius:4px;font:inherit;cursor:pointer}.error{background:#fdecea;color:#8a1c12;padding:8px 10px;border-radius:4px;margin-bottom:10px;font-size:13px}'

export function loginPage(p: { action: string; error?: string; username?: string; clientName: string }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · local Okta-shaped IdP</title><style>${STYLE}</style></head>
<body><main><h1>Sign in</h1><p class="note">Local Okta-shaped test IdP, for ${escapeHtml(p.clientName)}. Not a real Okta.</p>
${p.error === undefined ? '' : `<div class="error" role="alert">${escapeHtml(p.error)}</div>`}
<form method="post" action="${escapeHtml(p.action)}" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="${escapeHtml(p.username ?? '')}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit" id="sign-in">Sign in</button></form></main></body></html>`
}

export function idpErrorPage(title: string, detail: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p></main></body></html>`
}
