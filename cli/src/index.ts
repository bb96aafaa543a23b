/** Public entry of @stratum/cli: service wiring for both forms (the `stratum` command lives in main.ts). */
export { type Embedded, startEmbedded } from './embedded.ts';
export { INGESTION_METHODS, OLAP_METHODS, startDistributed, TX_METHODS } from './wiring.ts';
