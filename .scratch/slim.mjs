import { registerHooks } from 'node:module'
const slim = new URL('./slim-gen.js', import.meta.url).href
registerHooks({ resolve(spec, ctx, next) {
  if (spec === './gen/index.js' && ctx.parentURL?.endsWith('/@kubernetes/client-node/dist/config.js')) return { url: slim, shortCircuit: true }
  return next(spec, ctx)
} })
const D = '../node_modules/@kubernetes/client-node/dist/'
await import(D + 'config.js'); await import(D + 'watch.js'); await import(D + 'gen/apis/AppsV1Api.js'); await import(D + 'gen/apis/CoreV1Api.js'); await import(D + 'gen/apis/CoordinationV1Api.js'); await import(D + 'gen/apis/VersionApi.js'); await import(D + 'middleware.js'); await import(D + 'patch.js')
gc(); await new Promise(r=>setTimeout(r,300)); gc()
console.log('slim', Math.round(process.memoryUsage().rss/1e6), Math.round(process.memoryUsage().heapUsed/1e6))
