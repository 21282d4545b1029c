export { createConfiguration } from '../node_modules/@kubernetes/client-node/dist/gen/configuration.js'
export { ServerConfiguration } from '../node_modules/@kubernetes/client-node/dist/gen/servers.js'
