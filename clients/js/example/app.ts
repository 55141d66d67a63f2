// Type-checked with `tsc --noEmit -p clients/js` (test.sh): every option and event of the
// client, used the way an app would, through the package's ES module entry.
import NotifyClient, {
  type NotifyClientOptions,
  type NotifyEnd,
  type NotifyMessage,
  type NotifyReset,
  type NotifyStateChange,
} from 'notify-relay-client';

interface ImageReady {
  img_url: string;
}

declare function showImage(url: string): void;
declare function reloadImages(): void;

const options: NotifyClientOptions<ImageReady> = {
  baseUrl: 'https://notify.example.com',
  token: () => fetch('/notify-relay/token').then((r) => r.text()),
  events: ['image_ready'],
  transport: 'auto',
  keepaliveSecs: 15,
  stallTimeoutMs: null,
  pollTimeoutSecs: 25,
  retryMinMs: 500,
  retryMaxMs: 30000,
  sseRetryAfterMs: 300000,
  lastEventId: sessionStorage.getItem('notify-cursor'),
  withCredentials: true,
  shared: 'user-42',
  onMessage(e) { showImage(e.data.img_url); },
  onReset: null,
  onState: null,
};

const client = new NotifyClient<ImageReady>(options);
const offMessage = client.on('message', (e: NotifyMessage<ImageReady>) => {
  sessionStorage.setItem('notify-cursor', e.id);
  if (e.event === 'image_ready' && e.transport === 'sse') showImage(e.data.img_url);
});
client.on('reset', (r: NotifyReset) => { if (r.reason === 'cursor_too_old') reloadImages(); });
client.on('state', (s: NotifyStateChange) => console.log(s.state, s.transport, s.role));
client.on('end', (r: NotifyEnd) => console.log('stream ended:', r.reason, r.message ?? ''));
client.start().on('state', function () { console.log(this.lastEventId, this.state, this.transport, this.role); });
offMessage();
client.close();

// A string token, or none at all (the notify_token cookie).
new NotifyClient({ token: 'eyJ...' });
new NotifyClient();

// @ts-expect-error: not an event of the client
client.on('open', () => {});
// @ts-expect-error: not an option of the client
new NotifyClient({ reconnect: true });
