// Client side: inline SVG charts (a metric's curve over steps; agent vs direct per dataset).
// Self-contained: see dom.ts.
import type { Dom } from './dom.ts'

export interface Bar { label: string; value: number; low: number; high: number; series: string }

export function chartKit(dom: Dom) {
  const { el, svg, number } = dom

  /** One metric over steps, with its range and last value written out for the reader. */
  function lineChart(name: string, points: [number, number][], xName: string) {
    const width = 260
    const height = 110
    const pad = 6
    const xs = points.map((p) => p[0])
    const ys = points.map((p) => p[1])
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)]
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)]
    if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1]
    const sx = (x: number) => pad + (x1 === x0 ? (width - 2 * pad) / 2 : ((x - x0) / (x1 - x0)) * (width - 2 * pad))
    const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad)
    const path = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')
    const last = points.at(-1)!
    return el('figure', { class: 'chart', 'data-metric': name },
      el('figcaption', {}, el('strong', {}, name), ` ${number(last[1])} `, el('small', {}, `(${xName} ${number(last[0])})`)),
      svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${name} over ${xName}s: last ${number(last[1])}` },
        svg('rect', { x: 0, y: 0, width, height, class: 'chart-bg' }),
        svg('polyline', { points: path, class: 'chart-line' }),
        points.length === 1 ? svg('circle', { cx: sx(last[0]), cy: sy(last[1]), r: 3, class: 'chart-dot' }) : null),
      el('div', { class: 'chart-axis' }, el('small', {}, `min ${number(Math.min(...ys))}`), el('small', {}, `max ${number(Math.max(...ys))}`)))
  }

  /** Grouped bars in points (0-100) with 95% interval whiskers, one group per dataset. */
  function barChart(title: string, groups: string[], series: string[], bars: Bar[]) {
    const groupWidth = 24 * series.length + 22
    const width = Math.max(320, 80 + groups.length * groupWidth)
    const height = 220
    const top = 12
    const bottom = 60
    const left = 34
    const y = (v: number) => top + (1 - Math.max(0, Math.min(1, v))) * (height - top - bottom)
    const children: SVGElement[] = []
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      children.push(svg('line', { x1: left, x2: width, y1: y(tick), y2: y(tick), class: 'grid' }))
      children.push(svg('text', { x: left - 4, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, String(tick * 100)))
    }
    groups.forEach((group, g) => {
      const x0 = left + 40 + g * groupWidth
      series.forEach((name, s) => {
        const bar = bars.find((b) => b.label === group && b.series === name)
        if (!bar) return
        const x = x0 + s * 24
        // a score of 0 still shows as a sliver, so that it reads as measured rather than missing
        const height = Math.max(1.5, y(0) - y(bar.value))
        children.push(svg('rect', { x, y: y(0) - height, width: 20, height, class: `bar bar-${s}` },
          svg('title', {}, `${group} ${name}: ${(100 * bar.value).toFixed(1)} [${(100 * bar.low).toFixed(1)}, ${(100 * bar.high).toFixed(1)}]`)))
        children.push(svg('line', { x1: x + 10, x2: x + 10, y1: y(bar.low), y2: y(bar.high), class: 'whisker' }))
      })
      children.push(svg('text', { x: x0 + (series.length * 24) / 2, y: height - bottom + 14, 'text-anchor': 'end', transform: `rotate(-35 ${x0 + (series.length * 24) / 2} ${height - bottom + 14})`, class: 'tick' },
        // slanted labels run to the left: long ones (file ids) are cut, whole in the tooltip
        group.length > 16 ? `${group.slice(0, 15)}…` : group, svg('title', {}, group)))
    })
    return el('figure', { class: 'bar-chart' },
      el('figcaption', {}, title, ' ', ...series.map((name, s) => el('span', { class: `legend legend-${s}` }, name))),
      svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title }, ...children))
  }

  return { lineChart, barChart }
}

export type Charts = ReturnType<typeof chartKit>
