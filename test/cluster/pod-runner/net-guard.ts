// Every address the pod runner hands out or dials is in 127.0.0.0/8: a pod IP
// outside loopback would be routed off this machine. Pure helpers.
import net from 'node:net'

export interface Cidr {
  base: number
  bits: number
  text: string
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number)
  if (!net.isIPv4(ip) || parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`)
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function parseCidr(text: string): Cidr {
  const [ip, bitsText] = text.split('/')
  const bits = Number(bitsText)
  if (!ip || !Number.isInteger(bits) || bits < 8 || bits > 30) throw new Error(`bad CIDR ${text} (want a.b.c.d/8..30)`)
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
  return { base: (ipToInt(ip) & mask) >>> 0, bits, text }
}

export function inCidr(ip: string, cidr: Cidr): boolean {
  if (!net.isIPv4(ip)) return false
  const mask = (~0 << (32 - cidr.bits)) >>> 0
  return (ipToInt(ip) & mask) >>> 0 === cidr.base
}

const LOOPBACK = parseCidr('127.0.0.0/8')

export function isLoopback(ip: string): boolean {
  return inCidr(ip, LOOPBACK)
}

/** Throws unless `host` is an IPv4 address in 127.0.0.0/8 (names are refused: they could resolve anywhere). */
export function assertLoopback(host: string, what: string): void {
  if (!isLoopback(host)) throw new Error(`pod runner: refusing ${what} address ${host}: only 127.0.0.0/8 is allowed`)
}

/** Throws unless the whole CIDR lies inside 127.0.0.0/8. */
export function assertLoopbackCidr(text: string, what: string): Cidr {
  const cidr = parseCidr(text)
  if (cidr.bits < 8 || !isLoopback(intToIp(cidr.base)))
    throw new Error(`pod runner: ${what} ${text} is not inside 127.0.0.0/8; refusing to start`)
  return cidr
}

/** Hands out host addresses of a CIDR (skipping .0 and .255 of each /24 for readability), lowest free first. */
export class IpPool {
  readonly #cidr: Cidr
  readonly #used = new Set<number>()
  #next = 0

  constructor(cidr: Cidr) {
    this.#cidr = cidr
  }

  allocate(): string {
    const size = 2 ** (32 - this.#cidr.bits)
    for (let i = 0; i < size; i++) {
      const off = (this.#next + i) % size
      const last = off & 255
      if (last === 0 || last === 255 || this.#used.has(off)) continue
      this.#used.add(off)
      this.#next = off + 1
      return intToIp((this.#cidr.base + off) >>> 0)
    }
    throw new Error(`pod runner: ${this.#cidr.text} exhausted`)
  }

  release(ip: string): void {
    if (inCidr(ip, this.#cidr)) this.#used.delete((ipToInt(ip) - this.#cidr.base) >>> 0)
  }
}
