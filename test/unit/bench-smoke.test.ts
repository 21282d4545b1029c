// The arithmetic behind `npm run bench` (bench/lib/stats.ts): percentiles,
// medians with min–max, ratios and the tables. The bench itself is not run
// here (it needs wrk, blackbox_exporter and minutes): `npm run bench -- --quick`.

import t from 'tap'
import { fmtRatio, fmtSpread, Histogram, markdownTable, num, ratio, spread, textTable } from '../../bench/lib/stats.ts'

t.test('the histogram gives percentiles within about 1 %', async (t) => {
  const h = new Histogram()
  t.ok(Number.isNaN(h.percentile(50)), 'no samples, no percentile')
  for (let i = 1; i <= 1000; i++) h.record(i / 10) // 0.1 … 100 ms
  t.equal(h.n, 1000)
  t.equal(h.max, 100)
  t.ok(Math.abs(h.percentile(50) - 50) / 50 < 0.012, `p50 ${h.percentile(50)}`)
  t.ok(Math.abs(h.percentile(99) - 99) / 99 < 0.012, `p99 ${h.percentile(99)}`)
  t.equal(h.percentile(100), 100, 'never above the largest sample')
  const tiny = new Histogram()
  tiny.record(0)
  tiny.record(-1)
  tiny.record(1e12)
  t.equal(tiny.n, 3, 'out-of-range samples land in the end buckets')
  t.ok(tiny.percentile(1) < 0.001, 'zero and below read as (almost) zero')
})

t.test('spread: median with min and max, non-numbers ignored', async (t) => {
  t.same(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 })
  t.same(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 })
  t.same(spread([NaN, 5]), { median: 5, min: 5, max: 5, n: 1 })
  t.equal(spread([]).n, 0)
  t.equal(fmtSpread(spread([])), 'n/a')
  t.equal(fmtSpread(spread([2610, 2540, 2700])), '2,610 (2,540–2,700)')
  t.equal(fmtSpread(spread([0.61])), '0.610')
})

t.test('numbers and ratios as printed', async (t) => {
  t.equal(num(12345.6), '12,346')
  t.equal(num(12.345), '12.3')
  t.equal(num(0.06123), '0.0612')
  t.equal(num(0), '0')
  t.equal(num(NaN), 'n/a')
  t.equal(ratio(6, 3), 2)
  t.ok(Number.isNaN(ratio(1, 0)))
  t.equal(fmtRatio(2.4149), '2.41×')
  t.equal(fmtRatio(NaN), 'n/a')
})

t.test('tables: figures right, words left; Markdown escapes pipes', async (t) => {
  const text = textTable(
    ['what', 'n', 'note'],
    [
      ['a', '1,000', 'x'],
      ['bb', '2', 'y|z'],
    ],
  )
  t.equal(text, ['what      n  note', '----  -----  ----', 'a     1,000  x', 'bb        2  y|z'].join('\n'))
  const md = markdownTable(['what', 'n'], [['a|b', '1']])
  t.equal(md, ['| what | n |', '|---|---:|', '| a\\|b | 1 |'].join('\n'))
})
