// The service refuses, at start, secrets its log redaction could not find
// (issue 11, point 9): exit 2, the variable named, the value nowhere.

import t from 'tap'
import { runCli } from '../fixtures/process.ts'

const rows: Array<[string, string, RegExp]> = [
  ['KUBE_RECYCLER_WEBHOOK_TOKEN', 'q7z', /KUBE_RECYCLER_WEBHOOK_TOKEN: must be at least 16 characters/],
  [
    'KUBE_RECYCLER_RECYCLE_TOKEN',
    'op-"quoted"-token',
    /KUBE_RECYCLER_RECYCLE_TOKEN: must not contain a double quote, a backslash or a control character/,
  ],
  ['KUBE_RECYCLER_WEBHOOK_SECRET', 'back\\slash-secret', /KUBE_RECYCLER_WEBHOOK_SECRET: must not contain/],
]

for (const [name, value, want] of rows) {
  t.test(`${name} refused at start`, async (t) => {
    // No HOME kubeconfig, port 0: it would otherwise start in dry-run.
    const r = await runCli(['serve'], { [name]: value, HOME: t.testdir({}), PORT: '0', HOST: '127.0.0.1' })
    t.equal(r.code, 2, r.stderr)
    t.match(r.stderr, /^kube-recycler: invalid configuration in the environment:\n/)
    t.match(r.stderr, want)
    t.notOk(r.stderr.includes(value) || r.stdout.includes(value), 'the value is not printed')
  })
}
