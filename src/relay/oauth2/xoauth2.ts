// SASL XOAUTH2 (Google's and Microsoft's mechanism): the initial client response, and the
// adapter that lets nodemailer's SMTPConnection take its tokens from a TokenSource.
import XOAuth2 from 'nodemailer/lib/xoauth2';
import { OAuth2TokenError } from './errors.js';
import type { TokenSource } from './token-source.js';

/** base64("user=" user ^A "auth=Bearer " token ^A ^A) */
export function xoauth2InitialResponse(user: string, accessToken: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8').toString('base64');
}

/**
 * For `conn.login({ user, oauth2: nodemailerOAuth2(source, user) })`: make one per
 * connection. nodemailer sends `AUTH XOAUTH2 <initial response>` (the token hidden in
 * its logs); when the server refuses the token it asks again with renew = true, and the
 * refused token is dropped from the source, so the retry gets a fresh one.
 */
export function nodemailerOAuth2(source: TokenSource, user: string): XOAuth2 {
  let handedOut: string | undefined;
  return new XOAuth2({
    user,
    provisionCallback: (_user, renew, callback) => {
      if (renew && handedOut) source.invalidate(handedOut);
      source.get().then(
        (token) => {
          handedOut = token.value;
          // nodemailer keeps the token until this time, then asks the source again.
          callback(null, token.value, token.refreshAt);
        },
        // A copy: nodemailer rewrites err.code to 'EAUTH' (the OAuth code moves to err.originalCode).
        (err: unknown) => callback(err instanceof OAuth2TokenError ? err.copy() : (err as Error)),
      );
    },
  });
}
