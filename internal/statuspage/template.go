package statuspage

import "html/template"

// css is the page's only style, in one <style> element that the CSP allows
// by its hash: no style attribute anywhere, so none is needed.
const css = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--head:#f6f8fa;
--ok:#1a7f37;--partial:#bf8700;--failed:#cf222e;--running:#0969da;--other:#8c959f}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--bg:#0d1117;--head:#151b23}}
body{margin:0 auto;max-width:72rem;padding:1rem 1.5rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
.muted,header p,footer{color:var(--muted)}
table{border-collapse:collapse;margin:.4rem 0 .8rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:.25rem .55rem;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600}
td.n{text-align:right}
caption{text-align:left;font-weight:600;padding:.2rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.4rem 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.st{font-weight:600}.st.ok{color:var(--ok)}.st.partial{color:var(--partial)}.st.failed,.st.crashed{color:var(--failed)}
.st.running{color:var(--running)}.st.cancelled,.st.other{color:var(--other)}
.warn{color:var(--failed);font-weight:600}
p.error{border-left:3px solid var(--failed);padding:.2rem .6rem;margin:.4rem 0}
figure{margin:.4rem 0}figcaption{color:var(--muted);font-size:.9em}
svg.chart{display:block;max-width:100%;height:auto}
svg.chart rect{fill:var(--other)}svg.chart rect.ok{fill:var(--ok)}svg.chart rect.partial{fill:var(--partial)}
svg.chart rect.failed,svg.chart rect.crashed{fill:var(--failed)}svg.chart rect.running{fill:var(--running)}
svg.chart line{stroke:var(--line)}svg.chart text{fill:var(--muted);font-size:10px}
details{margin:.2rem 0 .8rem}summary{cursor:pointer;color:var(--muted)}
table.failures code{white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em}
`

var page = template.Must(template.New("page").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>virtsync status</title>
<style>` + css + `</style>
</head>
<body>
<header>
<h1>virtsync status</h1>
<p>As of <time datetime="{{.Now.ISO}}">{{.Now.Text}}</time>. This page reloads every {{.Refresh}}&nbsp;s and only reads.</p>
</header>
{{end}}

{{define "unavailable"}}{{template "head" .}}
<main>
<p class="warn">The state file cannot be read right now; the daemon's log says why. This page tries again in {{.Refresh}}&nbsp;s.</p>
</main>
</body>
</html>
{{end}}

{{define "page"}}{{template "head" .}}
<main>
<section id="overview" aria-labelledby="overview-h">
<h2 id="overview-h">Jobs</h2>
<table class="summary">
<thead><tr><th scope="col">Job</th><th scope="col">Last run</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Next run</th><th scope="col">Waiting</th><th scope="col">Dead letters</th></tr></thead>
<tbody>
{{- range .Jobs}}
<tr data-job="{{.Name}}"><th scope="row"><a href="#job-{{.Name}}">{{.Name}}</a></th>
{{- with .Last}}<td><time datetime="{{.Started.ISO}}">{{.Started.Text}}</time></td><td class="st {{.Class}}">{{.Status}}</td><td class="n">{{.Duration}}</td>
{{- else}}<td>never</td><td>-</td><td>-</td>{{end}}
<td>{{if .Running}}running {{.Running}}{{else if .HasNext}}<time datetime="{{.Next.ISO}}">{{.Next.Text}}</time>{{else}}not scheduled{{end}}</td>
<td class="n">{{.Holds}}</td><td class="n{{if .Dead}} warn{{end}}">{{.Dead}}</td></tr>
{{- end}}
</tbody>
</table>
<dl class="facts">
<dt>Daemon</dt><dd>{{.Daemon}}</dd>
<dt>Outbox</dt><dd id="outbox" data-backlog="{{.Backlog}}">{{.Outbox}}</dd>
</dl>
</section>
{{range .Jobs}}
<section class="job" id="job-{{.Name}}" aria-labelledby="job-{{.Name}}-h">
<h2 id="job-{{.Name}}-h">{{.Name}}</h2>
{{- with .Last}}
<table class="last">
<caption>Last run</caption>
<thead><tr><th scope="col">Started</th><th scope="col">Mode</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Created</th><th scope="col">Updated</th><th scope="col">Unchanged</th><th scope="col">Deleted</th><th scope="col">Failed</th><th scope="col">Held</th></tr></thead>
<tbody><tr><td><time datetime="{{.Started.ISO}}">{{.Started.Text}}</time></td><td>{{.Mode}}</td><td class="st {{.Class}}">{{.Status}}</td><td class="n">{{.Duration}}</td>
<td class="n">{{.Created}}</td><td class="n">{{.Updated}}</td><td class="n">{{.Unchanged}}</td><td class="n">{{.Deleted}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Held}}</td></tr></tbody>
</table>
{{- else}}
<p class="muted">No run yet.</p>
{{- end}}
{{- if .LastError}}
<p class="error">The last run stopped early: {{.LastError}}</p>
{{- end}}
<dl class="facts">
<dt>Next run</dt><dd>{{if .HasNext}}<time datetime="{{.Next.ISO}}">{{.Next.Text}}</time>{{else}}not scheduled by this process{{end}}</dd>
<dt>Running</dt><dd>{{if .Running}}{{.Running}}{{else}}no{{end}}</dd>
<dt>Last success</dt><dd>{{if .HasSuccess}}<time datetime="{{.LastSuccess.ISO}}">{{.LastSuccess.Text}}</time>{{else}}never{{end}}</dd>
<dt>Waiting</dt><dd>{{.Holds}} record(s) waiting for a dependency{{if .OldestHold}}, the oldest since {{.OldestHold}}{{end}}</dd>
<dt>Dead letters</dt><dd>{{if .Dead}}<span class="warn">{{.Dead}} open</span>{{else}}none open{{end}}{{if .Replays}}, {{.Replays}} queued for replay{{end}}</dd>
</dl>
{{- if .Failures}}
<table class="failures">
<caption>Newest dead letters</caption>
<thead><tr><th scope="col">Key</th><th scope="col">Last failed</th><th scope="col">Attempts</th><th scope="col">Reason</th></tr></thead>
<tbody>
{{- range .Failures}}
<tr><td><code>{{.Key}}</code></td><td><time datetime="{{.At.ISO}}">{{.At.Text}}</time></td><td class="n">{{.Attempts}}</td><td>{{.Reason}}</td></tr>
{{- end}}
</tbody>
</table>
{{- if .HiddenFailures}}<p class="muted">and {{.HiddenFailures}} more: <code>virtsync failures</code> lists them all.</p>{{end}}
{{- end}}
{{- with .Chart}}
<figure>
<svg class="chart" role="img" aria-label="{{.Label}}" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" xmlns="http://www.w3.org/2000/svg">
<title>{{.Label}}</title>
<line x1="0" y1="{{.Base}}" x2="{{.Width}}" y2="{{.Base}}"/>
<text x="4" y="10">longest {{.Max}}</text>
{{- range .Bars}}
<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{- end}}
</svg>
<figcaption>{{.Label}}. Bar height is the run's duration; its colour the status; hover a bar for its counts.</figcaption>
</figure>
{{- end}}
{{- if .History}}
<details>
<summary>The same runs as a table</summary>
<table class="history">
<thead><tr><th scope="col">Started</th><th scope="col">Mode</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Created</th><th scope="col">Updated</th><th scope="col">Unchanged</th><th scope="col">Deleted</th><th scope="col">Failed</th><th scope="col">Held</th></tr></thead>
<tbody>
{{- range .History}}
<tr><td><time datetime="{{.Started.ISO}}">{{.Started.Text}}</time></td><td>{{.Mode}}</td><td class="st {{.Class}}">{{.Status}}</td><td class="n">{{.Duration}}</td>
<td class="n">{{.Created}}</td><td class="n">{{.Updated}}</td><td class="n">{{.Unchanged}}</td><td class="n">{{.Deleted}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Held}}</td></tr>
{{- end}}
</tbody>
</table>
</details>
{{- end}}
</section>
{{- end}}
</main>
<footer>
<p>Dead letters: <code>virtsync failures</code>, and <code>virtsync failures -replay</code> once the cause is fixed. The same numbers as text: <code>virtsync status</code>.</p>
</footer>
</body>
</html>
{{end}}`))
