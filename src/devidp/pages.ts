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

/**
 * The IdP's own page (Okta's end-user dashboard, in miniature): who is
 * signed in here, and a button to sign out of the IdP, which tells every app.
 */
export function homePage(p: { who: string | undefined; action: string }): string {
  const body =
    p.who === undefined
      ? `<h1>Not signed in</h1><p class="note">No one is signed in to the local IdP in this browser.</p>`
      : `<h1>Signed in</h1><p class="note">Signed in to the local Okta-shaped IdP as <b id="who">${escapeHtml(p.who)}</b>.</p>
<form method="post" action="${escapeHtml(p.action)}"><button type="submit" id="idp-sign-out">Sign out of the IdP</button></form>
<p class="note">Signing out here ends your IdP session and tells every app (front-channel and back-channel logout).</p>`
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Local IdP</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`
}

/**
 * Signed out, with every app's front-channel logout URL framed (as Okta's
 * Single Logout does), then on to `next` once they have loaded (or after two
 * seconds). A client without frames reads the iframe sources from the page.
 */
export function frontchannelPage(p: { urls: readonly string[]; next: string }): string {
  const frames = p.urls.map((u) => `<iframe class="frontchannel" src="${escapeHtml(u)}" width="0" height="0" style="display:none"></iframe>`).join('\n')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing out</title>
<meta http-equiv="refresh" content="2;url=${escapeHtml(p.next)}"><style>${STYLE}</style></head>
<body><main><h1>Signing out</h1><p class="note">Telling your apps…</p><p><a id="continue" href="${escapeHtml(p.next)}">Continue</a></p>
${frames}
<script>(function(){var f=document.querySelectorAll('iframe.frontchannel'),n=f.length;function go(){location.replace(${JSON.stringify(p.next).replace(/</g, '\\u003c')})}if(n===0)return go();f.forEach(function(x){x.addEventListener('load',function(){if(--n===0)go()})})})()</script>
</main></body></html>`
}
