/**
 * Transaction ids and row ids of tables without a primary key: UUIDv7 (`uuidv7` package), with
 * random words drawn from `crypto.getRandomValues` 1024 at a time (the package's default draws 8
 * at a time: one call per two or three ids, ~2 % of an INSERT's CPU).
 */
import { V7Generator } from 'uuidv7';

const RANDOM_WORDS = new Uint32Array(1024);
let randomAt = RANDOM_WORDS.length;
const UUIDS = new V7Generator({
  nextUint32(): number {
    if (randomAt === RANDOM_WORDS.length) {
      crypto.getRandomValues(RANDOM_WORDS);
      randomAt = 0;
    }
    return RANDOM_WORDS[randomAt++] as number;
  },
});

/** A new UUIDv7 as text (transaction ids, row ids of tables without a primary key). */
export function uuidv7(): string {
  return UUIDS.generate().toString();
}
