import { registerHooks } from 'node:module'
registerHooks({ resolve(spec, ctx, next) {
  if (spec === './gen/index.js' && ctx.parentURL?.endsWith('/@kubernetes/client-node/dist/config.js')) {
    const at = (p) => new URL(p, ctx.parentURL).href
    const src = `export { createConfiguration } from ${JSON.stringify(at('./gen/configuration.js'))}; export { ServerConfiguration } from ${JSON.stringify(at('./gen/servers.js'))};`
    return { url: `data:text/javascript,${encodeURIComponent(src)}`, shortCircuit: true }
  }
  return next(spec, ctx)
} })
const { KubeConfig } = await import('@kubernetes/client-node/dist/config.js')
const kc = new KubeConfig(); console.log(typeof kc.makeApiClient)
gc(); console.log(Math.round(process.memoryUsage().rss/1e6))
