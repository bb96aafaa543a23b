/** Public entry of @stratum/cli: service wiring for both forms (the `stratum` command lives in main.ts). */
export { startDistributed, startEmbedded, TX_METHODS, INGESTION_METHODS, OLAP_METHODS, type Embedded } from './wiring.ts';
