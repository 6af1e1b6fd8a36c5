/**
 * The admin console's HTML, rendered on the server from a ConsoleModel: the whole page is readable with
 * JavaScript off (a static snapshot, refreshed by <noscript> meta refresh), and a small inline script
 * replaces the body with `GET /console.fragment` every few seconds. No external assets: inline CSS,
 * inline SVG sparklines, one inline script allowed by its hash in the Content-Security-Policy.
 * Everything taken from config, requests or certificates is escaped (`esc`). Pure.
 */
import { createHash } from 'node:crypto';
import type { ConsoleModel, ConsolePool, ConsoleRoute } from './console-model.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text and attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** HH:MM:SS (UTC) of wall ms or an ISO string. */
function clockTime(at: number | string): string {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 19) : '';
}

/** An inline SVG sparkline of `series` (each drawn in its colour), scaled to their common maximum. */
export function sparkline(series: readonly { readonly values: readonly number[]; readonly color: string }[], width = 140, height = 28): string {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  let lines = '';
  if (n >= 2) {
    const step = width / (n - 1);
    for (const s of series) {
      const off = n - s.values.length;
      const pts = s.values.map((v, i) => `${((off + i) * step).toFixed(1)},${(height - 1 - (max > 0 ? (v / max) * (height - 2) : 0)).toFixed(1)}`);
      lines += `<polyline fill="none" stroke="${esc(s.color)}" stroke-width="1.5" points="${pts.join(' ')}"/>`;
    }
  }
  const label = n < 2 ? 'no samples yet' : `last ${n} samples, peak ${max}/s`;
  return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}"><title>${esc(label)}</title><rect width="${width}" height="${height}" fill="#f4f6f8"/>${lines}</svg>`;
}

function rate(v: number | undefined): string {
  return v === undefined ? '–' : esc(v.toFixed(1));
}

function routeRow(r: ConsoleRoute): string {
  const spark = sparkline([
    { values: r.series.requests, color: '#2563eb' },
    { values: r.series.rejected, color: '#d97706' },
    { values: r.series.errors, color: '#dc2626' },
  ]);
  return (
    `<tr data-route="${esc(r.name)}"><td>${esc(r.name)}</td><td>${esc(r.upstreams.join(', '))}</td>` +
    `<td class="num" data-k="requests">${rate(r.rates?.requests)}</td><td class="num" data-k="errors">${rate(r.rates?.errors)}</td>` +
    `<td class="num" data-k="rejected">${rate(r.rates?.rejected)}</td><td>${spark}</td></tr>`
  );
}

const STATE_CLASS = { up: 'ok', down: 'bad', ejected: 'warn' } as const;
const TIER_CLASS = { primary: 'ok', backup: 'warn', none: 'bad' } as const;
const OVERRIDE_CLASS = { drain: 'warn', healthy: 'ok', unhealthy: 'bad' } as const;
const OVERRIDE_LABEL = { drain: 'draining (override)', healthy: 'forced healthy', unhealthy: 'forced unhealthy' } as const;

function poolSection(p: ConsolePool): string {
  const tiers = p.tierHistory.map((e) => `<span class="ev ${TIER_CLASS[e.tier]}" title="${esc(new Date(e.at).toISOString())}">${esc(clockTime(e.at))} ${esc(e.tier)}</span>`).join(' → ');
  const b = p.breaker;
  const rows = p.targets
    .map((t) => {
      const hist = t.history.map((e) => `<span class="dot ${STATE_CLASS[e.state]}" title="${esc(`${new Date(e.at).toISOString()} ${e.state}`)}">${esc(clockTime(e.at))} ${esc(e.state)}</span>`).join('');
      const forced = t.override === undefined || t.override === null ? '' : ` <span class="badge ${OVERRIDE_CLASS[t.override]}" data-k="override" title="operator override">${esc(OVERRIDE_LABEL[t.override])}</span>`;
      return (
        `<tr data-target="${esc(t.url)}" data-state="${esc(t.state)}"${t.override ? ` data-override="${esc(t.override)}"` : ''}><td>${esc(t.url)}</td><td>${esc(t.tier)}</td>` +
        `<td><span class="badge ${STATE_CLASS[t.state]}">${esc(t.state)}</span>${forced}</td><td class="num">${esc(t.ups)} / ${esc(t.downs)}</td>` +
        `<td class="hist">${hist}</td><td class="num">${esc(t.ejections)}${t.ejectedUntil === null ? '' : ` (until ${esc(clockTime(t.ejectedUntil))})`}</td>` +
        `<td class="num">${esc(t.inFlight)}</td><td class="num">${esc(t.ewmaMs)}</td></tr>`
      );
    })
    .join('');
  return (
    `<section class="pool" data-pool="${esc(p.name)}" data-active-tier="${esc(p.activeTier)}">` +
    `<h3>${esc(p.name)} <span class="muted">${esc(p.balance)}</span> <span class="badge ${TIER_CLASS[p.activeTier]}" data-k="tier">serving: ${esc(p.activeTier)}</span>` +
    (p.forcedTier === undefined || p.forcedTier === null ? '' : ` <span class="badge warn" data-k="forced-tier">tier forced: ${esc(p.forcedTier)}</span>`) +
    `</h3>` +
    `<p class="muted">tier history: <span data-k="tier-history">${tiers || 'none'}</span></p>` +
    `<p class="muted" data-k="breaker">circuit breaker <span class="badge ${b.open ? 'bad' : 'ok'}">${b.open ? 'open' : 'closed'}</span> active ${esc(b.active)}/${esc(b.maxConnections)}, pending ${esc(b.pending)}/${esc(b.maxPendingRequests)}, rejected ${esc(b.rejected)}; retry budget ${esc(p.retryBudget)}</p>` +
    `<table><thead><tr><th>target</th><th>tier</th><th>health</th><th>ups / downs</th><th>health history</th><th>ejections</th><th>in flight</th><th>EWMA ms</th></tr></thead><tbody>${rows}</tbody></table></section>`
  );
}

const DAY_MS = 86_400_000;

function certTimeline(model: ConsoleModel): string {
  if (model.certificates.length === 0) return '<p class="muted">no certificates</p>';
  const left = model.certificates.map((c) => Date.parse(c.notAfter) - model.generatedAt);
  // Log scale: a 24 h workload certificate and a 10-year root both stay visible.
  const scale = (ms: number): number => Math.log1p(Math.max(0, ms) / 3_600_000);
  const span = Math.max(scale(DAY_MS), ...left.map(scale));
  const rows = model.certificates
    .map((c, i) => {
      const ms = left[i] ?? 0;
      const days = ms / DAY_MS;
      const cls = ms <= 0 ? 'bad' : days < 7 ? 'warn' : 'ok';
      const pct = Math.max(0.5, Math.min(100, (scale(ms) / span) * 100));
      const when = days >= 2 ? `${Math.floor(days)} days` : `${(ms / 3_600_000).toFixed(1)} h`;
      return `<tr data-cert="${esc(c.name)}"><th>${esc(c.name)}</th><td class="bar"><span class="fill ${cls}" style="width:${pct.toFixed(1)}%"></span></td><td>${esc(c.notAfter)}</td><td class="num">${ms <= 0 ? 'expired' : esc(when)}</td></tr>`;
    })
    .join('');
  return `<table class="certs"><thead><tr><th>certificate</th><th>time left <span class="muted">(log scale)</span></th><th>expires</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function identities(model: ConsoleModel): string {
  const id = model.identities;
  if (id.top.length === 0) return '<p class="muted">no requests yet</p>';
  const rows = id.top
    .map((u) => {
      const q = u.quota === undefined ? '<span class="muted">–</span>' : `${esc(u.quota.used)} / ${esc(u.quota.limit)} <span class="muted">(${esc(u.quota.route)})</span>`;
      return `<tr data-identity="${esc(u.id)}"><td>${esc(u.id)}</td><td class="num">${esc(u.requests)}</td><td>${q}</td></tr>`;
    })
    .join('');
  const more = id.overflowRequests > 0 ? `<p class="muted">${esc(id.overflowRequests)} requests from identities beyond the ${esc(id.tracked)} tracked</p>` : '';
  return `<table><thead><tr><th>identity</th><th>requests</th><th>quota used</th></tr></thead><tbody>${rows}</tbody></table>${more}`;
}

function reloads(model: ConsoleModel): string {
  if (model.reloads.length === 0) return '<p class="muted">no reloads since start</p>';
  const rows = model.reloads
    .map(
      (r) =>
        `<tr data-result="${esc(r.result)}"><td>${esc(r.at)}</td><td><span class="badge ${r.result === 'success' ? 'ok' : 'bad'}">${esc(r.result)}</span></td>` +
        `<td class="err">${r.error === null ? '' : esc(r.error)}</td><td class="muted">${esc(r.configHash.slice(0, 19))}</td></tr>`,
    )
    .join('');
  return `<table id="reloads"><thead><tr><th>at</th><th>result</th><th>error</th><th>config</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function overrides(list: ConsoleModel['overrides']): string {
  if (list === undefined) return '';
  if (list.length === 0) return '<h2>Runtime overrides</h2><div id="overrides"><p class="muted">none (set with POST /overrides/targets or /overrides/tiers, cleared with DELETE)</p></div>';
  const rows = list
    .map((o) => {
      const what = o.kind === 'target' ? `${esc(o.target)}` : '<span class="muted">whole pool</span>';
      const value = o.kind === 'target' ? OVERRIDE_LABEL[o.state] : `tier forced: ${o.tier}`;
      return (
        `<tr data-override-kind="${esc(o.kind)}" data-upstream="${esc(o.upstream)}"><td>${esc(o.upstream)}</td><td>${what}</td><td>${esc(value)}${o.applied ? '' : ' <span class="muted">(not in the config in force)</span>'}</td>` +
        `<td>${esc(o.by.address)} <span class="muted">${o.by.auth === 'token' ? 'with token' : 'no token'}</span></td><td>${esc(o.at)}</td><td>${o.reason === null ? '' : esc(o.reason)}</td></tr>`
      );
    })
    .join('');
  return `<h2>Runtime overrides</h2><div id="overrides"><table><thead><tr><th>upstream</th><th>target</th><th>override</th><th>by</th><th>at</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** The part of the page that the script refreshes (also served alone as `GET /console.fragment`). */
export function renderConsoleBody(model: ConsoleModel): string {
  const meta =
    `<span>version ${esc(model.version)}</span><span>config <code>${esc(model.configHash.slice(0, 19))}</code>… generation ${esc(model.generation)}</span>` +
    `<span>loaded ${esc(model.loadedAt)}</span><span>snapshot ${esc(new Date(model.generatedAt).toISOString())}</span>` +
    (model.draining ? '<span class="badge bad">draining</span>' : '');
  const routes = model.routes.map(routeRow).join('');
  return (
    `<div id="meta" class="muted">${meta}</div>` +
    `<h2>Routes <span class="muted">per second over ${esc(model.sampleIntervalMs / 1000)} s; sparkline: <b style="color:#2563eb">requests</b>, <b style="color:#d97706">429</b>, <b style="color:#dc2626">5xx</b></span></h2>` +
    `<table id="routes"><thead><tr><th>route</th><th>upstreams</th><th>req/s</th><th>5xx/s</th><th>429/s</th><th>recent</th></tr></thead><tbody>${routes || '<tr><td colspan="6" class="muted">no routes</td></tr>'}</tbody></table>` +
    `<h2>Upstream pools</h2><div id="pools">${model.pools.map(poolSection).join('') || '<p class="muted">no pools</p>'}</div>` +
    overrides(model.overrides) +
    `<h2>Top identities</h2><div id="identities">${identities(model)}</div>` +
    `<h2>Certificates</h2><div id="certificates">${certTimeline(model)}</div>` +
    `<h2>Reloads</h2><div id="reload-history">${reloads(model)}</div>`
  );
}

/** Polls the fragment; on failure keeps the last snapshot and says so. Relative URL: works behind a path prefix. */
const SCRIPT = `(function(){
var main=document.getElementById('console'),live=document.getElementById('live');
var every=Number(main.getAttribute('data-refresh-ms'))||2000;
live.textContent='live';live.className='badge ok';
function tick(){
fetch('console.fragment',{cache:'no-store',headers:{accept:'text/html'}}).then(function(r){
if(!r.ok)throw new Error('HTTP '+r.status);return r.text();
}).then(function(html){main.innerHTML=html;live.textContent='live';live.className='badge ok';})
.catch(function(e){live.textContent='not updating: '+e.message;live.className='badge bad';})
.then(function(){setTimeout(tick,every);});
}
setTimeout(tick,every);
})();`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT).digest('base64');

/** The Content-Security-Policy of the console page: nothing from elsewhere, only our own script. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${SCRIPT_HASH}'`,
  "style-src 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem 2rem;color:#1f2328;background:#fafbfc}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}h3{font-size:1rem;margin:.2rem 0}
table{border-collapse:collapse;background:#fff;min-width:40rem}td,th{border:1px solid #d8dee4;padding:.25rem .55rem;text-align:left;vertical-align:middle}
th{background:#f4f6f8;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#6e7781;font-weight:normal}
#meta span{margin-right:1.2rem}.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.85em;font-weight:600;color:#fff;background:#6e7781}
.badge.ok{background:#1a7f37}.badge.warn{background:#bf8700}.badge.bad{background:#cf222e}
.pool{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}.pool table{min-width:100%}.pool p{margin:.25rem 0}
.ev{font-weight:600}.ev.ok{color:#1a7f37}.ev.warn{color:#9a6700}.ev.bad{color:#cf222e}
.hist{max-width:22rem}.dot{display:inline-block;margin:0 .25rem .1rem 0;padding:0 .3rem;border-radius:3px;font-size:.8em;color:#fff}
.dot.ok{background:#1a7f37}.dot.warn{background:#bf8700}.dot.bad{background:#cf222e}
.certs .bar{width:18rem;background:#f4f6f8}.fill{display:block;height:.7rem;border-radius:2px}.fill.ok{background:#1a7f37}.fill.warn{background:#bf8700}.fill.bad{background:#cf222e}
.err{color:#cf222e;max-width:40rem;word-break:break-word}svg.spark{display:block}`;

/** The whole console page. */
export function renderConsolePage(model: ConsoleModel, refreshMs: number): string {
  const secs = Math.max(1, Math.round(refreshMs / 1000));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tollgate</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="${secs}"></noscript>
<style>${STYLE}</style></head><body>
<h1>tollgate console <span id="live" class="badge">static snapshot</span></h1>
<main id="console" data-refresh-ms="${esc(refreshMs)}">${renderConsoleBody(model)}</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
