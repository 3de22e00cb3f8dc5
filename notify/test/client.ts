import WebSocket from 'ws';

/** A message the server sent (notification, subscribed, caught_up, error, pong). */
export type ServerMessage = Record<string, unknown> & { type: string; resumeToken?: string };

/** A real WebSocket client for the specs: collects what the server sends and how the connection ended. */
export class TestClient {
  readonly messages: ServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly socket: WebSocket;
  private readonly opened: Promise<void>;
  private readonly ended: Promise<{ code: number; reason: string }>;

  constructor(url: string, token: string | undefined, via: 'header' | 'query' = 'header') {
    const target = via === 'query' && token ? `${url}?access_token=${encodeURIComponent(token)}` : url;
    this.socket = new WebSocket(target, {
      headers: via === 'header' && token ? { authorization: `Bearer ${token}` } : {},
    });
    this.socket.on('message', (data) => this.messages.push(JSON.parse(data.toString()) as ServerMessage));
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.ended = new Promise((resolve) =>
      this.socket.once('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      }),
    );
  }

  async send(message: object): Promise<void> {
    await this.opened;
    this.socket.send(JSON.stringify(message));
  }

  async subscribe(message: Record<string, unknown>): Promise<ServerMessage> {
    await this.send({ type: 'subscribe', ...message });
    return this.next((m) => m.type === 'subscribed' || m.type === 'error');
  }

  notifications(): ServerMessage[] {
    return this.messages.filter((m) => m.type === 'notification');
  }

  /** The last resume token the client was given. */
  lastToken(): string | undefined {
    return this.messages.findLast((m) => typeof m.resumeToken === 'string')?.resumeToken;
  }

  async next(match: (m: ServerMessage) => boolean, timeoutMs = 20_000): Promise<ServerMessage> {
    const started = Date.now();
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (this.closed && !found) throw new Error(`closed ${JSON.stringify(this.closed)} before the message came`);
      if (Date.now() - started > timeoutMs) throw new Error(`no matching message in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async waitForNotifications(count: number, timeoutMs = 20_000): Promise<ServerMessage[]> {
    await this.next(() => this.notifications().length >= count, timeoutMs);
    return this.notifications();
  }

  end(): Promise<{ code: number; reason: string }> {
    return this.ended;
  }

  /** Drops the TCP connection without a close handshake, as a lost network does. */
  terminate(): void {
    this.socket.terminate();
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close();
    return this.ended;
  }
}
