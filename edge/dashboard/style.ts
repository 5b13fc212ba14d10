// The dashboard's stylesheet: system fonts, a light neutral palette, nothing fetched.
export const STYLESHEET = `
:root { --fg: #1d232b; --muted: #5f6b7a; --line: #d8dee6; --bg: #f6f8fa; --panel: #fff; --accent: #2456c9; --bad: #b42318; --good: #1a7f37; --warn: #9a6700; }
* { box-sizing: border-box; }
/* the views and fieldsets that the script hides stay hidden whatever their display */
[hidden] { display: none !important; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem 2rem; padding: .75rem 1.5rem; background: var(--panel); border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.2rem; margin: 0; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
header nav a { color: var(--fg); text-decoration: none; padding: .2rem 0; border-bottom: 2px solid transparent; }
header nav a[aria-current=page] { border-color: var(--accent); color: var(--accent); }
#key-status { margin: 0 0 0 auto; color: var(--muted); }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h2 { font-size: 1.35rem; margin: .5rem 0 1rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.panel > h3:first-child, .panel > h2:first-child { margin-top: 0; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; margin: 0 0 1rem; }
.narrow { max-width: 34rem; }
.muted, .hint { color: var(--muted); }
.hint { display: block; font-size: .85em; }
.field { display: flex; flex-direction: column; gap: .2rem; margin: 0 0 .75rem; }
label { font-weight: 500; }
input, select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 5px; background: #fff; color: var(--fg); max-width: 100%; }
textarea { width: 100%; }
[aria-invalid=true] { border-color: var(--bad); outline: 1px solid var(--bad); }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 1rem; padding: .5rem 1rem .25rem; }
legend { font-weight: 600; padding: 0 .25rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: 0 1rem; }
.choices .choice { display: block; font-weight: 400; }
button, .button { font: inherit; padding: .4rem .9rem; border-radius: 5px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button[type=button] { background: #fff; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
.field-error, .form-error { color: var(--bad); margin: 0; font-size: .9em; }
.field-error:empty, .form-error:empty { display: none; }
table { border-collapse: collapse; width: 100%; background: var(--panel); margin: 0 0 1rem; }
caption { text-align: left; color: var(--muted); padding: .25rem 0; font-size: .9em; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.clip { max-width: 18rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.actions button { margin-right: .4rem; }
.status { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .85em; background: #e8ecf1; }
.status-running, .status-cancelling { background: #ddf4ff; color: #0a4a8a; }
.status-succeeded { background: #dafbe1; color: var(--good); }
.status-failed { background: #ffebe9; color: var(--bad); }
.status-cancelled { background: #fff8c5; color: var(--warn); }
.progress { display: inline-flex; align-items: center; gap: .5rem; }
.progress progress { width: 7rem; }
.job-head { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; }
.view-actions { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; }
mark.tag { background: #e8eef6; color: #1f4e79; padding: 0 .1rem; border-radius: 2px; }
.environment-call { border-left: 3px solid #c9d6e6; padding-left: .6rem; margin: .4rem 0; }
button.link { background: none; border: none; padding: 0; color: #1f4e79; text-decoration: underline; cursor: pointer; font: inherit; }
.job-phase, .estimate { color: #555; margin: 0.25rem 0; min-height: 1.5em; }
.form-actions { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 1rem; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; white-space: pre-wrap; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: .75rem; }
.chart { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
.chart figcaption { font-size: .9em; }
.chart svg { width: 100%; height: auto; display: block; }
.chart-bg { fill: #fbfcfd; }
.chart-line { fill: none; stroke: var(--accent); stroke-width: 2; }
.chart-line.raw { stroke-width: 1; opacity: .3; }
.chart-dot { fill: var(--accent); opacity: .6; }
.chart-line.run-1 { stroke: #c2410c; }
.chart-dot.run-1 { fill: #c2410c; }
.chart .axis { stroke: var(--muted); }
.chart .grid { stroke: var(--line); }
.chart .tick { font-size: 9px; fill: var(--muted); }
.chart .axis-label { font-size: 9px; fill: var(--fg); }
.chart-controls { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; margin: 0 0 .5rem; }
.chart-controls label { font-weight: 400; display: flex; align-items: center; gap: .35rem; min-width: 0; max-width: 100%; }
.chart-controls select { min-width: 0; flex: 1; }
.scroll { overflow-x: auto; }
table.results td small.ci { color: var(--muted); }
tr[data-line=diff] { font-weight: 600; }
.bar-chart { margin: 0 0 1rem; }
.bar-chart figcaption { margin: 0 0 .25rem; }
.bar-chart .grid { stroke: var(--line); }
.bar-chart .tick { font-size: 10px; fill: var(--muted); }
.bar-0, .legend-0::before { fill: #9aa7b8; background: #9aa7b8; }
.bar-1, .legend-1::before { fill: var(--accent); background: var(--accent); }
.whisker { stroke: var(--fg); stroke-width: 1.5; }
.legend { margin-left: .75rem; font-size: .9em; }
.legend::before { content: ""; display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: -.05em; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; margin: 0 0 .5rem; }
.filters label { font-weight: 400; }
.turns, .transcript { list-style: none; padding: 0; }
.turn, .bubble { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .9rem; margin: 0 0 .6rem; background: var(--panel); }
.turn h4, .bubble h4 { margin: 0 0 .25rem; font-size: .95rem; }
.turn-part h5 { margin: .4rem 0 .1rem; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
.turn-part pre { margin: 0; white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: .4rem .6rem; border-radius: 5px; }
.turn-invalid-call { border-color: #f0c36d; }
.bubble.user { border-left: 4px solid var(--muted); }
.bubble.agent { border-left: 4px solid var(--accent); margin-right: 3rem; }
.bubble.environment { border-left: 4px solid var(--good); margin-left: 3rem; }
.bubble.final { border-left: 4px solid var(--fg); }
.final-answer { font-weight: 600; }
#playground-stop { margin-left: .5rem; }
pre { overflow-x: auto; }
.meta dd { min-width: 0; overflow-wrap: anywhere; }
/* a phone: a wide table scrolls in its own box, never the page */
@media (max-width: 760px) {
  header { padding: .5rem .75rem; gap: .5rem 1rem; }
  main { padding: .75rem .75rem 2rem; }
  .panel { padding: .75rem; }
  table { display: block; overflow-x: auto; }
  .bubble.environment { margin-left: 1rem; }
}
`
