// Aligned text tables for the CLI (check, status): every column but the
// last is padded to its widest cell; trailing spaces are trimmed.

export function formatTable(rows: string[][]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length))
  const widths = Array.from({ length: columns - 1 }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  )
}
