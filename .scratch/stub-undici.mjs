import { registerHooks } from 'node:module'
const src = 'export class Agent { constructor() {} close() { return Promise.resolve() } destroy() { return Promise.resolve() } }; export const request = () => { throw new Error("stub") }; export const buildConnector = () => () => {}; export default {}'
registerHooks({ resolve(s, c, n) { if (s === 'undici') return { url: 'data:text/javascript,' + encodeURIComponent(src), format: 'module', shortCircuit: true }; return n(s, c) } })
