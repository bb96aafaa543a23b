/**
 * Server side of SASL SCRAM-SHA-256 (RFC 5802, RFC 7677) as used by PostgreSQL, without
 * channel binding (no TLS, so SCRAM-SHA-256-PLUS is never offered).
 *
 * Protocol reference: PostgreSQL 15 docs §55.3 "SASL Authentication".
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { PgError } from './errors.ts';

const pbkdf2Async = promisify(pbkdf2);

/** The only SASL mechanism offered in AuthenticationSASL. */
export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** PBKDF2 iteration count, PostgreSQL's default scram_iterations. */
export const SCRAM_ITERATIONS = 4096;

const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

function malformed(detail: string): PgError {
  return new PgError('08P01', 'malformed SCRAM message', { severity: 'FATAL', detail });
}

/** Parse "k=v,k=v" SCRAM attributes, keeping order. */
function attributes(s: string): [string, string][] {
  return s.split(',').map((part) => {
    if (part.length < 2 || part[1] !== '=') throw malformed(`invalid attribute "${part}"`);
    return [part[0] as string, part.slice(2)];
  });
}

/**
 * Approximation of SASLprep (RFC 4013): non-ASCII spaces map to a space, "mapped to nothing"
 * characters are removed, then NFKC. ASCII passwords are used unchanged, as in libpq.
 */
function saslPrep(password: string): string {
  if (/^[\x20-\x7e]*$/.test(password)) return password;
  return password
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/\u00ad|\u034f|\u1806|\u180b|\u180c|\u180d|\u200c|\u200d|\u2060|\ufeff|[\ufe00-\ufe0f]/g, '')
    .normalize('NFKC');
}

/**
 * One SCRAM-SHA-256 exchange for one connection attempt. `password` is the user's plaintext
 * password, or `null` for an unknown user: the exchange then runs against a random secret so it
 * fails at the proof check exactly like a wrong password (no user enumeration).
 *
 * Throws PgError: 08P01 FATAL for malformed messages, 28P01 FATAL for a wrong password.
 */
export class ScramServerExchange {
  private clientFirstBare = '';
  private serverFirst = '';
  private gs2Header = '';
  private nonce = '';
  private readonly salt = randomBytes(16);

  constructor(
    private readonly user: string,
    private readonly password: string | null,
  ) {}

  private failed(): PgError {
    return new PgError('28P01', `password authentication failed for user "${this.user}"`, { severity: 'FATAL' });
  }

  /** Handle client-first-message (from SASLInitialResponse); returns server-first-message for AuthenticationSASLContinue. */
  clientFirst(message: string): string {
    const m = /^(n|y|p=[^,]*),(a=[^,]*)?,(.*)$/s.exec(message);
    if (!m) throw malformed('invalid GS2 header');
    if ((m[1] as string).startsWith('p=')) {
      throw new PgError('08P01', 'channel binding is not supported by this server', { severity: 'FATAL' });
    }
    this.gs2Header = `${m[1]},${m[2] ?? ''},`;
    this.clientFirstBare = m[3] as string;
    const attrs = attributes(this.clientFirstBare);
    if (attrs[0]?.[0] !== 'n' || attrs[1]?.[0] !== 'r') throw malformed('expected n= and r= attributes');
    if (attrs.some(([k]) => k === 'm')) throw malformed('mandatory extensions are not supported');
    const clientNonce = attrs[1][1];
    if (!clientNonce || !/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) throw malformed('invalid client nonce');
    this.nonce = clientNonce + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.salt.toString('base64')},i=${SCRAM_ITERATIONS}`;
    return this.serverFirst;
  }

  /**
   * Handle client-final-message (from SASLResponse); verifies the client proof and returns
   * server-final-message ("v=<ServerSignature>") for AuthenticationSASLFinal.
   */
  async clientFinal(message: string): Promise<string> {
    if (!this.serverFirst) throw malformed('client-final-message before client-first-message');
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) throw malformed('missing client proof');
    const withoutProof = message.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    const binding = attrs.find(([k]) => k === 'c')?.[1];
    const nonce = attrs.find(([k]) => k === 'r')?.[1];
    if (binding !== Buffer.from(this.gs2Header, 'utf8').toString('base64')) throw malformed('unexpected channel binding data');
    if (nonce !== this.nonce) throw malformed('nonce does not match');
    const proof = Buffer.from(message.slice(proofAt + 3), 'base64');
    if (proof.length !== 32) throw malformed('invalid client proof length');

    const secret = this.password === null ? randomBytes(32).toString('hex') : saslPrep(this.password);
    const salted = await pbkdf2Async(secret, this.salt, SCRAM_ITERATIONS, 32, 'sha256');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const storedKey = sha256(hmac(salted, 'Client Key'));
    const signature = hmac(storedKey, authMessage);
    const clientKey = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) clientKey[i] = (proof[i] as number) ^ (signature[i] as number);
    if (!timingSafeEqual(sha256(clientKey), storedKey) || this.password === null) throw this.failed();
    const serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `v=${serverSignature.toString('base64')}`;
  }
}
