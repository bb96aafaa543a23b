/** Threads of one process (docs/architecture.md, "Threads"): RPC and the change bus over a MessagePort. */
export { portBus, serveBus } from './port-bus.ts';
export { type PortClientOptions, portClient, servePort } from './port-rpc.ts';
