// Experiment only (bench/relay-vs-postfix.ts): preloaded into a relay process with
// NODE_OPTIONS=--import, it removes smtp-server's fixed 100 ms "early talker" wait before
// the greeting (SMTPConnection.init), to show what that wait costs per connection.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

SMTPConnection.prototype.init = function init() {
  this._setListeners(() => {
    if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
      return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
    }
    this.connectionReady();
  });
};
