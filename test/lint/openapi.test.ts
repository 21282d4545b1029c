// Redocly's recommended lint of the OpenAPI document the service serves
// (/docs/json): 0 errors, 0 warnings (3 findings accepted, each with its
// reason, in .redocly.lint-ignore.yaml), and the linter makes no network
// connection: by default it sends telemetry to otel.cloud.redocly.com
// (seen with this trap); redocly.yaml turns that off.

import t from 'tap'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testApp } from '../fixtures/app.ts'
import { ROOT } from '../fixtures/process.ts'

t.test("Redocly's recommended lint: 0 errors, 0 warnings, and not one connection out", async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const dir = mkdtempSync(join(tmpdir(), 'kr-openapi-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const doc = await h.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(doc.statusCode, 200)
  writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc.json(), null, 2))
  copyFileSync(join(ROOT, 'redocly.yaml'), join(dir, 'redocly.yaml'))
  copyFileSync(join(ROOT, '.redocly.lint-ignore.yaml'), join(dir, '.redocly.lint-ignore.yaml'))

  // Every proxy-aware request (Node's fetch with NODE_USE_ENV_PROXY, which
  // is how the CLI sends telemetry and looks for updates) lands here.
  const attempts: string[] = []
  const sockets = new Set<Socket>()
  const trap = createServer((s) => {
    sockets.add(s)
    s.once('data', (d) => attempts.push(String(d).split('\r\n')[0]!))
    s.on('close', () => sockets.delete(s))
    s.setTimeout(200, () => s.destroy())
  })
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        trap.close(() => resolve())
      }),
  )
  const proxy = `http://127.0.0.1:${(trap.address() as { port: number }).port}`

  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', 'openapi.json', '--format=json'],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          CI: 'true',
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          NODE_USE_ENV_PROXY: '1',
          HTTP_PROXY: proxy,
          HTTPS_PROXY: proxy,
          http_proxy: proxy,
          https_proxy: proxy,
          NO_PROXY: '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    // Bounded: a linter waiting on the network would hang the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
  const report = JSON.parse(run.stdout) as {
    totals: { errors: number; warnings: number; ignored: number }
    problems: { ruleId: string; message: string; location: { pointer: string }[] }[]
  }
  const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)
  t.same(problems, [], 'no problems')
  t.same(
    report.totals,
    { errors: 0, warnings: 0, ignored: 3 },
    'only the three accepted findings (.redocly.lint-ignore.yaml)',
  )
  t.equal(run.code, 0, run.stderr)
  // Give a late telemetry flush a moment to show itself.
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(attempts, [], 'the linter tried to reach nobody')
})
