// Client side: inline SVG charts (a metric's curve over steps; agent vs direct per dataset).
// Self-contained: see dom.ts.
import type { Dom } from './dom.ts'

export interface Bar { label: string; value: number; low: number; high: number; series: string }

export function chartKit(dom: Dom) {
  const { el, svg, number } = dom

  /** A run's curve of one metric: its points, as [x, y]. */
  interface Run { label: string; points: [number, number][] }

  /** Smoothing as TensorBoard's: an exponential moving average, debiased at the start. */
  function smooth(points: [number, number][], weight: number): [number, number][] {
    if (weight <= 0) return points
    let average = 0
    return points.map(([x, y], i) => {
      average = average * weight + (1 - weight) * y
      return [x, average / (1 - weight ** (i + 1))]
    })
  }

  /** About `count` round tick values over [low, high]: 1, 2 or 5 times a power of ten apart. */
  function ticks(low: number, high: number, count: number): number[] {
    const span = high - low || Math.abs(high) || 1
    const raw = span / count
    const power = 10 ** Math.floor(Math.log10(raw))
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!
    const out: number[] = []
    for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)))
    return out
  }

  /**
   * One metric over steps, with axes (ticks and their labels), a tooltip on every point, optional
   * smoothing (the raw curve stays, faint) and a log scale (where every value is positive), and the
   * runs being compared overlaid in their own colours.
   */
  function lineChart(name: string, runs: Run[], xName: string, options: { smoothing: number; log: boolean }) {
    const [width, height] = [300, 150]
    const [left, right, top, bottom] = [44, 8, 8, 30]
    const all = runs.flatMap((r) => r.points)
    const log = options.log && all.every(([, y]) => y > 0)
    const ty = (y: number) => (log ? Math.log10(y) : y)
    const xs = all.map((p) => p[0])
    const ys = all.map((p) => ty(p[1]))
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)]
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)]
    if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1]
    const sx = (x: number) => left + (x1 === x0 ? (width - left - right) / 2 : ((x - x0) / (x1 - x0)) * (width - left - right))
    const sy = (y: number) => height - bottom - ((ty(y) - y0) / (y1 - y0)) * (height - top - bottom)
    const line = (points: [number, number][]) => points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')
    const yTicks = log ? ticks(y0, y1, 3).filter(Number.isInteger).map((p) => 10 ** p) : ticks(y0, y1, 3)
    // steps and rows are whole numbers: no tick between them
    const xTicks = ticks(x0, x1, 4).filter((x) => x >= x0 && x <= x1 && (!xs.every(Number.isInteger) || Number.isInteger(x)))
    const axes = [
      svg('line', { x1: left, x2: left, y1: top, y2: height - bottom, class: 'axis' }),
      svg('line', { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: 'axis' }),
      ...yTicks.flatMap((t) => [
        svg('line', { x1: left, x2: width - right, y1: sy(t), y2: sy(t), class: 'grid' }),
        svg('text', { x: left - 4, y: sy(t) + 3, 'text-anchor': 'end', class: 'tick' }, number(t)),
      ]),
      ...xTicks.map((t) => svg('text', { x: sx(t), y: height - bottom + 12, 'text-anchor': 'middle', class: 'tick' }, number(t))),
      svg('text', { x: (left + width - right) / 2, y: height - 4, 'text-anchor': 'middle', class: 'axis-label' }, xName),
    ]
    const curves = runs.flatMap((run, r) => {
      const smoothed = smooth(run.points, options.smoothing)
      return [
        options.smoothing > 0 ? svg('polyline', { points: line(run.points), class: `chart-line raw run-${r}` }) : null,
        svg('polyline', { points: line(smoothed), class: `chart-line run-${r}` }),
        // a point under the pointer says its value (the raw one), and which run it is
        ...run.points.map(([x, y]) => svg('circle', { cx: sx(x), cy: sy(y), r: run.points.length === 1 ? 3 : 2.5, class: `chart-dot run-${r}` },
          svg('title', {}, `${runs.length > 1 ? `${run.label}: ` : ''}${xName} ${number(x)}: ${name} ${number(y)}`))),
      ]
    })
    const last = runs[0].points.at(-1)!
    return el('figure', { class: 'chart', 'data-metric': name },
      el('figcaption', {}, el('strong', {}, name), ` ${number(last[1])} `, el('small', {}, `(${xName} ${number(last[0])})`), log ? el('small', {}, ' · log scale') : null),
      svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${name} over ${xName}s: last ${number(last[1])}` },
        svg('rect', { x: left, y: top, width: width - left - right, height: height - top - bottom, class: 'chart-bg' }), ...axes, ...curves))
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
