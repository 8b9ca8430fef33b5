import { deleteCredentials, loadCredentials } from '../../identity/client/credentials.ts';
import { postForm } from '../../identity/client/gateway-client.ts';
import { print, type CliCommand } from '../io.ts';

export const logoutCommand: CliCommand = {
  summary: 'revoke your Portcullis session at the gateway and forget the stored token',
  usage: 'portcullis logout',
  async run(_args, io) {
    const c = await loadCredentials(io.env);
    if (!c) {
      print(io.stderr, 'not signed in');
      return 0;
    }
    // Revoking either token ends the whole session (RFC 7009); the refresh token outlives the access token.
    const r = await postForm(`${c.gateway}/auth/revoke`, { token: c.refresh_token ?? c.access_token }).catch(() => undefined);
    await deleteCredentials(io.env);
    print(io.stderr, r?.status === 200 ? `signed out ${c.subject}; the session is revoked` : 'signed out locally; the gateway could not be reached to revoke the session');
    return r?.status === 200 ? 0 : 1;
  },
};
