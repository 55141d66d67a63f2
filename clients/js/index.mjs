// ES module entry of the browser client. notify-client.js is also the classic script the relay
// serves at /notify-client.js, so it cannot contain `export`: importing it defines
// globalThis.NotifyClient, which this module re-exports.
import './notify-client.js';

export const NotifyClient = globalThis.NotifyClient;
export default NotifyClient;
