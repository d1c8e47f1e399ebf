// Admission at the DATA command, before the 354. smtp-server calls onData right before it
// sends 354, so a refusal from onData could only be given after the client has uploaded
// the whole message. This hook answers DATA itself (451) when the relay has no room for
// one more transaction, so a refused client does not send megabytes for nothing.
import type { SMTPServerSession } from 'smtp-server';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export interface DataRefusal {
  code: number;
  message: string;
}

/**
 * Called on a DATA that smtp-server would hand to onData (a recipient is in). Returns null
 * to go on, or the reply. `dispatched` runs right after smtp-server handled the DATA
 * command (onData is called synchronously in it, or not at all: e.g. shutdown), so
 * whatever admit() reserved and onData did not take can be given back.
 */
export interface DataGate {
  admit(session: SMTPServerSession): Promise<DataRefusal | null>;
  dispatched(session: SMTPServerSession): void;
}

/** Wraps one connection's command dispatch with the gate. */
export function gateDataCommand(connection: SMTPConnection, gate: DataGate): void {
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = (command, callback) => {
    const name = command.toString().split(' ')[0]?.toUpperCase() ?? '';
    // Only a DATA that reaches handler_DATA: not a continuation line, not mid-STARTTLS, with recipients.
    if (name !== 'DATA' || !connection._ready || connection._upgrading || connection._nextHandler || !connection.session.envelope.rcptTo.length) {
      return onCommand(command, callback);
    }
    const session = connection.session;
    // The client waits for our reply now: keep the idle timer from ending the session.
    connection._handlerPending = true;
    gate.admit(session).then(
      (refusal) => {
        connection._handlerPending = false;
        if (refusal) {
          connection.send(refusal.code, refusal.message, false);
          connection._whenWritable(callback ?? (() => undefined));
          return;
        }
        try {
          onCommand(command, callback);
        } finally {
          gate.dispatched(session);
        }
      },
      () => {
        connection._handlerPending = false;
        gate.dispatched(session);
        connection.send(451, '4.3.0 Internal error, try again later', false);
        connection._whenWritable(callback ?? (() => undefined));
      },
    );
  };
}
