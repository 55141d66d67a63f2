// For pages that load the client as a classic script (`<script src="/notify-client.js">`):
// declares the global it defines. Reference it with
// `/// <reference path="node_modules/notify-relay-client/global.d.ts" />`.

declare var NotifyClient: typeof import('./index').NotifyClient;
