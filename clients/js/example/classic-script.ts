// A page that loads /notify-client.js as a classic script uses the global it defines.
/// <reference path="../global.d.ts" />

const client = new NotifyClient({ token: null, transport: 'poll' });
client.on('message', (e) => console.log(e.id, e.data));
client.start();
