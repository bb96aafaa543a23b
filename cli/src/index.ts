/** Public entry of @stratum/cli: service wiring for both forms (the `stratum` command lives in main.ts). */
export { type Embedded, INGESTION_METHODS, OLAP_METHODS, startDistributed, startEmbedded, TX_METHODS } from './wiring.ts';
