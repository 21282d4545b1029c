// The probe engine's pure helpers: status ranges, JSON paths, body snippets,
// and the words for network errors (including the ones the integration tests
// cannot provoke on loopback, such as DNS failures).

import t from 'tap'
import {
  certExpiryWarning,
  describeError,
  formatJsonPath,
  formatJsonValue,
  formatRanges,
  jsonType,
  lookupJsonPath,
  parseJsonPath,
  sanitizeSnippet,
  statusInRanges,
} from '../../src/triggers/probe-helpers.ts'

t.test('statusInRanges and formatRanges', async (t) => {
  const ok2xx = [{ min: 200, max: 299 }]
  const rows: [number, { min: number; max: number }[], boolean][] = [
    [200, ok2xx, true],
    [299, ok2xx, true],
    [199, ok2xx, false],
    [300, ok2xx, false],
    [500, ok2xx, false],
    [
      302,
      [
        { min: 200, max: 200 },
        { min: 301, max: 302 },
      ],
      true,
    ],
    [
      204,
      [
        { min: 200, max: 200 },
        { min: 301, max: 302 },
      ],
      false,
    ],
    [200, [], false],
  ]
  for (const [status, ranges, want] of rows) {
    t.equal(statusInRanges(status, ranges), want, `${status} in ${formatRanges(ranges)}`)
  }
  t.equal(formatRanges(ok2xx), '200-299')
  t.equal(
    formatRanges([
      { min: 200, max: 200 },
      { min: 301, max: 302 },
    ]),
    '200, 301-302',
  )
  t.equal(formatRanges([]), '(none)')
})

t.test('parseJsonPath', async (t) => {
  const good: [string, (string | number)[]][] = [
    ['$', []],
    ['$.status', ['status']],
    ['$.a.b[0].c', ['a', 'b', 0, 'c']],
    ['a.b', ['a', 'b']],
    ['$["odd key"][2]', ['odd key', 2]],
    ["$['x.y']", ['x.y']],
    ['$[0][1]', [0, 1]],
    ['$.with-dash', ['with-dash']],
  ]
  for (const [path, want] of good) t.same(parseJsonPath(path), want, path)

  const bad: [string, RegExp][] = [
    ['$..a', /^empty name at position 1/],
    ['$.a[', /^unclosed "\["/],
    ['$[x]', /^"\[x\]" at position 1 .* neither an index nor a quoted name/],
    ['$a', /^unexpected "a" at position 1/],
    ['$.', /^empty name/],
  ]
  for (const [path, re] of bad) t.throws(() => parseJsonPath(path), re, path)
})

t.test('formatJsonPath', async (t) => {
  t.equal(formatJsonPath([]), '$')
  t.equal(formatJsonPath(['a', 0, 'b']), '$.a[0].b')
  t.equal(formatJsonPath(['odd key', 'x.y']), '$["odd key"]["x.y"]')
  t.equal(formatJsonPath(['a', 'b', 'c'], 2), '$.a.b')
})

t.test('lookupJsonPath', async (t) => {
  const doc = { status: 'ok', build: { commits: ['abc', 'def'], n: 0, none: null }, list: [{ id: 7 }] }
  t.same(lookupJsonPath(doc, ['status']), { found: true, value: 'ok' })
  t.same(lookupJsonPath(doc, ['build', 'commits', 1]), { found: true, value: 'def' })
  t.same(lookupJsonPath(doc, ['build', 'n']), { found: true, value: 0 })
  t.same(lookupJsonPath(doc, ['build', 'none']), { found: true, value: null })
  t.same(lookupJsonPath(doc, ['list', 0, 'id']), { found: true, value: 7 })
  t.same(lookupJsonPath(doc, []), { found: true, value: doc })

  t.same(lookupJsonPath(doc, ['version']), { found: false, missing: '$.version', parentType: 'an object' })
  t.same(lookupJsonPath(doc, ['build', 'x', 'y']), { found: false, missing: '$.build.x', parentType: 'an object' })
  t.same(lookupJsonPath(doc, ['build', 'commits', 5]), {
    found: false,
    missing: '$.build.commits[5]',
    parentType: 'an array',
  })
  t.same(lookupJsonPath(doc, ['status', 'x']), { found: false, missing: '$.status.x', parentType: 'a string' })
  t.same(lookupJsonPath(doc, ['build', 'none', 'x']), { found: false, missing: '$.build.none.x', parentType: 'null' })
  t.same(lookupJsonPath(doc, ['list', 'id']), { found: false, missing: '$.list.id', parentType: 'an array' })
  t.same(lookupJsonPath(doc, ['build', 0]), { found: false, missing: '$.build[0]', parentType: 'an object' })
  // Inherited properties are not JSON members.
  t.same(lookupJsonPath({}, ['constructor']), { found: false, missing: '$.constructor', parentType: 'an object' })
})

t.test('jsonType and formatJsonValue', async (t) => {
  t.equal(jsonType(null), 'null')
  t.equal(jsonType([]), 'an array')
  t.equal(jsonType({}), 'an object')
  t.equal(jsonType('x'), 'a string')
  t.equal(jsonType(1), 'a number')
  t.equal(jsonType(true), 'a boolean')
  t.equal(formatJsonValue('ok'), '"ok"')
  t.equal(formatJsonValue(null), 'null')
  t.equal(formatJsonValue({ a: 1 }), '{"a":1}')
  t.equal(formatJsonValue('x'.repeat(100), 10), `"${'x'.repeat(9)}…`)
  t.equal(formatJsonValue(undefined), 'undefined')
  t.equal(formatJsonValue(10n), '10')
})

t.test('sanitizeSnippet', async (t) => {
  const b = (s: string) => Buffer.from(s, 'utf8')
  t.equal(sanitizeSnippet(undefined), '')
  t.equal(sanitizeSnippet(b('')), '')
  t.equal(sanitizeSnippet(b('<html>\n  <body>\tHi</body>\r\n</html>\n')), '<html> <body> Hi</body> </html>')
  t.equal(sanitizeSnippet(b('a\u0000b\u001b[31mc\u007f')), 'a.b.[31mc.', 'NUL, ESC, DEL')
  t.equal(sanitizeSnippet(b('safe\u202Eevil\u200B')), 'safe.evil.', 'bidi override and zero-width space')
  t.equal(sanitizeSnippet(b('héllo wörld ✓')), 'héllo wörld ✓', 'UTF-8 text stays')
  t.equal(sanitizeSnippet(Buffer.from([0x61, 0xff, 0x62])), 'a.b', 'an undecodable byte')
  t.equal(sanitizeSnippet(b('x'.repeat(200))), `${'x'.repeat(120)}…`)
  t.equal(sanitizeSnippet(b('x'.repeat(10)), 4), 'xxxx…')
  // A character cut in half by the limit is dropped, not shown as garbage.
  t.equal(sanitizeSnippet(b('ab✓✓'), 4), 'ab…')
  // A view into a bigger buffer is read from its own offset.
  const big = b('0123456789')
  t.equal(sanitizeSnippet(big.subarray(5, 8)), '567')
})

t.test('certExpiryWarning', async (t) => {
  const now = Date.UTC(2030, 0, 1)
  const hour = 3_600_000
  const day = 24 * hour
  t.equal(certExpiryWarning(now + 30 * day, now, 14, 'a:443'), undefined)
  t.equal(certExpiryWarning(now + 14 * day, now, 14, 'a:443'), undefined, 'exactly at the window edge')
  t.equal(
    certExpiryWarning(now + 2 * day, now, 14, 'a:443'),
    'the TLS certificate of a:443 expires in 2.0 days (2030-01-03T00:00:00.000Z), within the 14-day warning window',
  )
  t.equal(
    certExpiryWarning(now + 5 * hour, now, 1, 'a:443'),
    'the TLS certificate of a:443 expires in 5 hours (2030-01-01T05:00:00.000Z), within the 1-day warning window',
  )
  t.match(certExpiryWarning(now + 60_000, now, 1, 'a:443'), /expires in 1 hours/)
  t.equal(
    certExpiryWarning(now - day, now, 14, 'a:443'),
    'the TLS certificate of a:443 expired on 2029-12-31T00:00:00.000Z',
  )
})

t.test('describeError', async (t) => {
  const host = 'site.example:443'
  const err = (code: string, message = code, more: Record<string, unknown> = {}) =>
    Object.assign(new Error(message), { code }, more)
  const rows: [unknown, string | RegExp][] = [
    [err('ECONNREFUSED'), 'connection refused by site.example:443 (ECONNREFUSED)'],
    [err('ENOTFOUND', 'getaddrinfo ENOTFOUND site.example'), 'DNS lookup failed: site.example not found (ENOTFOUND)'],
    [err('EAI_AGAIN'), 'DNS lookup failed for site.example: temporary failure (EAI_AGAIN)'],
    [err('ECONNRESET'), 'connection reset by site.example:443 (ECONNRESET)'],
    [
      err('UND_ERR_SOCKET', 'other side closed'),
      'connection closed by site.example:443 before a complete response (other side closed)',
    ],
    [
      err('UND_ERR_SOCKET', 'closed', { cause: err('ECONNRESET') }),
      'connection reset by site.example:443 (ECONNRESET)',
    ],
    [err('EPIPE'), /while sending the request \(EPIPE\)$/],
    [err('UND_ERR_CONNECT_TIMEOUT'), 'could not connect to site.example:443: timed out (UND_ERR_CONNECT_TIMEOUT)'],
    [err('ETIMEDOUT'), /timed out \(ETIMEDOUT\)$/],
    [err('EHOSTUNREACH'), 'could not connect to site.example:443: no route (EHOSTUNREACH)'],
    [err('CERT_HAS_EXPIRED'), 'TLS: the certificate of site.example:443 has expired (CERT_HAS_EXPIRED)'],
    [err('CERT_NOT_YET_VALID'), /is not valid yet/],
    [
      err('ERR_TLS_CERT_ALTNAME_INVALID', 'Hostname/IP does not match', {
        reason: "Host: site.example. is not in the cert's altnames: DNS:other.example",
      }),
      "TLS: the certificate does not match the hostname site.example (Host: site.example. is not in the cert's altnames: DNS:other.example)",
    ],
    [
      err('DEPTH_ZERO_SELF_SIGNED_CERT'),
      'TLS: the certificate of site.example:443 is not trusted, self-signed or from an unknown CA (DEPTH_ZERO_SELF_SIGNED_CERT)',
    ],
    [
      err('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'),
      /not trusted, self-signed or from an unknown CA \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\)$/,
    ],
    [
      err('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'),
      'TLS handshake with site.example:443 failed: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)',
    ],
    [
      err('HPE_INVALID_CONSTANT', 'Expected HTTP/'),
      'invalid HTTP response from site.example:443: Expected HTTP/ (HPE_INVALID_CONSTANT)',
    ],
    [
      Object.assign(new Error('Response does not match the HTTP/1.1 protocol (Expected HTTP/)'), {
        name: 'HTTPParserError',
      }),
      'invalid HTTP response from site.example:443: Response does not match the HTTP/1.1 protocol (Expected HTTP/)',
    ],
    [err('UND_ERR_HEADERS_OVERFLOW'), /headers .* too large/],
    [err('UND_ERR_RES_CONTENT_LENGTH_MISMATCH'), /does not match its content-length/],
    [err('UND_ERR_INVALID_ARG', 'invalid header key'), /^the request cannot be sent: invalid header key/],
    [err('EWHATEVER', 'odd'), 'request to site.example:443 failed: odd (EWHATEVER)'],
    [new Error('plain'), 'request to site.example:443 failed: plain'],
    [null, 'request to site.example:443 failed: null'],
    // Happy eyeballs: every address failed.
    [
      Object.assign(new AggregateError([err('ECONNREFUSED'), err('ECONNREFUSED')], 'all failed')),
      'connection refused by site.example:443 (ECONNREFUSED)',
    ],
    // An undici wrapper without a code of its own.
    [
      Object.assign(new Error('wrapped'), { cause: err('ENOTFOUND') }),
      'DNS lookup failed: site.example not found (ENOTFOUND)',
    ],
  ]
  for (const [e, want] of rows) {
    const got = describeError(e, host)
    if (typeof want === 'string') t.equal(got, want)
    else t.match(got, want)
  }
})
