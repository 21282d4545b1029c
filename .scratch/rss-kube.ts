import pino from 'pino'
const lean = process.argv[2] === 'lean'
const m = lean ? await (await import('../src/kube/load.ts')).loadKube() : await import('../src/kube/client.ts')
const k = m.createKube({ logger: pino({ level: 'silent' }), kubeconfig: '.scratch/kc.yaml' })
await k.ping().catch((e) => console.log('ping', e.code))
;(globalThis as any).gc(); await new Promise((r) => setTimeout(r, 300)); (globalThis as any).gc()
console.log(lean ? 'lean' : 'full', Math.round(process.memoryUsage().rss / 1e6))
k.close()
