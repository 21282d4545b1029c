// kube-recycler serve | check | report | recycle

import { main } from './main.ts'

const USAGE = `usage: kube-recycler <command> [options]

commands:
  serve [--config FILE]     run the service (default config: config/example.yaml,
                            or KUBE_RECYCLER_CONFIG; HOST and PORT set the address)
`

export async function cli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const flag = (name: string): string | undefined => {
    const i = rest.indexOf(name)
    if (i >= 0) return rest[i + 1]
    const eq = rest.find((a) => a.startsWith(`${name}=`))
    return eq?.slice(name.length + 1)
  }
  switch (command) {
    case 'serve':
    case undefined: {
      const configPath = flag('--config')
      await main(configPath ? { configPath } : {})
      return -1 // keeps running
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return 0
    default:
      process.stderr.write(`kube-recycler: unknown command "${command}"\n${USAGE}`)
      return 2
  }
}

if (import.meta.main) {
  cli(process.argv.slice(2)).then((code) => { if (code >= 0) process.exitCode = code })
}
