import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, server side. Only the verifier is stored (the format
 * Postgres keeps in pg_authid): `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, never the password.
 * No channel binding (SCRAM-SHA-256-PLUS) and no SASLprep: passwords are taken as UTF-8 as given.
 */
export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

export function createVerifier(password: string, iterations = 4096, salt = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = sha256(hmac(salted, 'Client Key'));
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export function parseVerifier(text: string): ScramVerifier {
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text);
  if (!match?.[1] || !match[2] || !match[3] || !match[4]) throw new Error('not a SCRAM-SHA-256 verifier');
  return {
    iterations: Number(match[1]),
    salt: Buffer.from(match[2], 'base64'),
    storedKey: Buffer.from(match[3], 'base64'),
    serverKey: Buffer.from(match[4], 'base64'),
  };
}

/** One authentication exchange: client-first in, server-first out; client-final in, server-final out or failure. */
export class ScramExchange {
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private gs2Header = '';

  /** `verifier` undefined (unknown user) runs the same exchange against a throwaway one and fails at the end. */
  constructor(private readonly verifier: ScramVerifier | undefined) {}

  private get effective(): ScramVerifier {
    return (
      this.verifier ?? {
        iterations: 4096,
        salt: randomBytes(16),
        storedKey: randomBytes(32),
        serverKey: randomBytes(32),
      }
    );
  }

  serverFirstMessage(clientFirst: string): string {
    const match = /^([ny]),(a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!match?.[1] || match[3] === undefined) throw new Error('malformed SCRAM client-first message');
    this.gs2Header = `${match[1]},${match[2] ?? ''},`;
    this.clientFirstBare = match[3];
    const clientNonce = /(?:^|,)r=([^,]+)/.exec(this.clientFirstBare)?.[1];
    if (!clientNonce) throw new Error('SCRAM client-first message without a nonce');
    const verifier = this.effective;
    this.nonce = `${clientNonce}${randomBytes(18).toString('base64')}`;
    this.serverFirst = `r=${this.nonce},s=${verifier.salt.toString('base64')},i=${verifier.iterations}`;
    return this.serverFirst;
  }

  /** The server-final message when the proof is right, otherwise undefined. */
  serverFinalMessage(clientFinal: string): string | undefined {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) return undefined;
    const withoutProof = clientFinal.slice(0, proofAt);
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const channelBinding = /(?:^|,)c=([^,]*)/.exec(withoutProof)?.[1];
    const nonce = /(?:^|,)r=([^,]*)/.exec(withoutProof)?.[1];
    if (nonce !== this.nonce || channelBinding !== Buffer.from(this.gs2Header).toString('base64')) return undefined;
    if (!this.verifier || proof.length !== 32) return undefined;
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.verifier.storedKey, authMessage);
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ (clientSignature[i] ?? 0)));
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) return undefined;
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`;
  }
}
