/** GET / on the admin listener: a self-refreshing page built from /status and /metrics. No external assets. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tollgate</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem} h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;background:#fff;min-width:40rem} td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left}
.ok{color:#0a7d28;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#777}
#meta span{margin-right:1.5rem}
</style></head><body>
<h1>tollgate</h1><div id="meta" class="muted">loading…</div>
<h2>Traffic</h2><table><thead><tr><th>route</th><th>requests/s</th><th>errors/s (5xx)</th><th>rejected/s (429)</th></tr></thead><tbody id="traffic"></tbody></table>
<h2>Upstreams</h2><div id="pools"></div>
<h2>Certificates</h2><table><tbody id="certs"></tbody></table>
<script>
let prev = null, prevAt = 0;
function esc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]))}
function parseCounts(text){
  const out={};
  for(const line of text.split('\\n')){
    const m=/^tollgate_requests_total\\{route="([^"]*)",code="(\\d+)"\\} ([0-9.e+]+)$/.exec(line);
    if(!m) continue;
    const r=out[m[1]]??={all:0,err:0,rej:0};
    const v=Number(m[3]); r.all+=v; if(m[2][0]==='5') r.err+=v; if(m[2]==='429') r.rej+=v;
  }
  return out;
}
async function tick(){
  try{
    const [st, mt] = await Promise.all([fetch('status').then(r=>r.json()), fetch('metrics').then(r=>r.text())]);
    const now=performance.now(), counts=parseCounts(mt), dt=(now-prevAt)/1000;
    document.getElementById('meta').innerHTML='<span>version '+esc(st.version)+'</span><span>config '+esc(st.configHash.slice(0,19))+'…</span><span>loaded '+esc(st.loadedAt)+'</span><span>last reload: '+esc(st.lastReload?st.lastReload.result+(st.lastReload.error?' ('+st.lastReload.error+')':''):'none')+'</span>'+(st.draining?'<span class="bad">draining</span>':'');
    let rows='';
    for(const [route,c] of Object.entries(counts)){
      const p=prev&&prev[route]; const rate=(k)=>p&&dt>0?((c[k]-p[k])/dt).toFixed(1):'–';
      rows+='<tr><td>'+esc(route)+'</td><td>'+rate('all')+'</td><td>'+rate('err')+'</td><td>'+rate('rej')+'</td></tr>';
    }
    document.getElementById('traffic').innerHTML=rows||'<tr><td colspan=4 class="muted">no requests yet</td></tr>';
    let pools='';
    for(const [name,u] of Object.entries(st.upstreams)){
      pools+='<h3>'+esc(name)+' <span class="muted">('+esc(u.balance)+', serving: '+esc(u.activeTier)+')</span></h3><table><thead><tr><th>target</th><th>tier</th><th>health</th><th>ejected until</th><th>in flight</th><th>EWMA ms</th></tr></thead><tbody>';
      for(const t of u.targets) pools+='<tr><td>'+esc(t.url)+'</td><td>'+esc(t.tier)+'</td><td class="'+(t.available?'ok':'bad')+'">'+(t.healthy?(t.available?'healthy':'ejected'):'down')+'</td><td>'+esc(t.ejectedUntil??'')+'</td><td>'+t.inFlight+'</td><td>'+t.ewmaMs+'</td></tr>';
      pools+='</tbody></table>';
    }
    document.getElementById('pools').innerHTML=pools;
    let certs='';
    for(const [k,v] of Object.entries(st.certificates||{})) certs+='<tr><th>'+esc(k)+'</th><td>expires '+esc(v&&v.notAfter)+'</td></tr>';
    document.getElementById('certs').innerHTML=certs;
    prev=counts; prevAt=now;
  }catch(e){document.getElementById('meta').textContent='admin API unreachable: '+e;}
}
tick(); setInterval(tick, 2000);
</script></body></html>
`;
