// A relying party built on panva's openid-client (v6), driven by tests/idp/test_rp_libraries.py.
//
// Usage: node openid_client_rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI [ID_TOKEN_ALG]
//   (or the environment: RP_ISSUER, RP_CLIENT_ID, RP_CLIENT_SECRET, RP_REDIRECT_URI, RP_ALG;
//    optional RP_SCOPE, default "openid profile email", and RP_TIMEOUT seconds, default 20;
//    optional RP_POST_LOGOUT_REDIRECT_URI, which adds step 4)
//
// Protocol, one JSON object per line:
//   1. stdout <- {"authorization_url": "..."}
//   2. stdin  -> the full callback URL the browser was redirected to (code, state, iss)
//   3. stdout <- {"claims": {...}, "userinfo": {...}, "id_token_header_alg": "..."}
//   4. only with RP_POST_LOGOUT_REDIRECT_URI (RP-Initiated Logout 1.0):
//      stdout <- {"end_session_url": "...", "state": "..."}, the URL built by the library's
//      buildEndSessionUrl from the discovered end_session_endpoint, with the ID token just
//      received as id_token_hint, that post_logout_redirect_uri and a fresh random state.
// Any failure: the error on stderr and a non-zero exit status.
//
// Nothing here relaxes the library's checks, except allowInsecureRequests: the test server
// is http://127.0.0.1:PORT. The library itself checks the discovery document's issuer, the
// authorization response's state and iss (RFC 9207), PKCE, the ID token's signature against
// the JWKS and its alg, iss, aud, azp, exp, iat, nonce, and userinfo's sub.

import { createInterface } from "node:readline";
import * as client from "openid-client";

const [argIssuer, argClientId, argSecret, argRedirect, argAlg] = process.argv.slice(2);
const issuer = argIssuer ?? process.env.RP_ISSUER;
const clientId = argClientId ?? process.env.RP_CLIENT_ID;
const clientSecret = argSecret ?? process.env.RP_CLIENT_SECRET;
const redirectUri = argRedirect ?? process.env.RP_REDIRECT_URI;
const alg = argAlg ?? process.env.RP_ALG;
const scope = process.env.RP_SCOPE ?? "openid profile email";
const timeout = Number(process.env.RP_TIMEOUT ?? 20);
const postLogoutRedirectUri = process.env.RP_POST_LOGOUT_REDIRECT_URI || undefined;

function fail(error) {
  const lines = [`openid_client_rp: ${error?.name ?? "Error"}: ${error?.message ?? error}`];
  if (error?.code) lines.push(`code: ${error.code}`);
  if (error?.error) lines.push(`error: ${error.error} ${error.error_description ?? ""}`);
  if (error?.cause !== undefined) {
    let cause = error.cause;
    if (cause instanceof Error) cause = `${cause.name}: ${cause.message}`;
    else {
      try {
        cause = JSON.stringify(cause);
      } catch {
        cause = String(cause);
      }
    }
    lines.push(`cause: ${cause}`);
  }
  process.stderr.write(lines.join("\n") + "\n");
  process.exit(1);
}

function emit(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

function readLine(seconds) {
  return new Promise((resolve, reject) => {
    const input = createInterface({ input: process.stdin });
    const timer = setTimeout(() => {
      reject(new Error(`no callback URL on stdin within ${seconds}s`));
      input.close();
    }, seconds * 1000);
    input.once("line", (line) => {
      clearTimeout(timer);
      resolve(line.trim()); // before close(), whose "close" event would reject
      input.close();
    });
    input.once("close", () => {
      clearTimeout(timer);
      reject(new Error("stdin closed before the callback URL arrived"));
    });
  });
}

function headerAlg(jwt) {
  const header = JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8"));
  return header.alg;
}

async function main() {
  if (!issuer || !clientId || !clientSecret || !redirectUri) {
    throw new Error(
      "usage: openid_client_rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI [ID_TOKEN_ALG]",
    );
  }
  const metadata = { client_secret: clientSecret, redirect_uris: [redirectUri] };
  if (alg) metadata.id_token_signed_response_alg = alg;
  const config = await client.discovery(
    new URL(issuer),
    clientId,
    metadata,
    client.ClientSecretBasic(clientSecret),
    { execute: [client.allowInsecureRequests], timeout },
  );

  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
    state,
    nonce,
  });
  emit({ authorization_url: authorizationUrl.href });

  const callbackUrl = new URL(await readLine(timeout * 3));
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  if (!claims) throw new Error("the token response has no ID token");
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  emit({
    claims,
    userinfo,
    id_token_header_alg: headerAlg(tokens.id_token),
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
  });

  if (postLogoutRedirectUri) {
    const logoutState = client.randomState();
    const endSessionUrl = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state: logoutState,
    });
    emit({ end_session_url: endSessionUrl.href, state: logoutState });
  }
}

main().then(() => process.exit(0), fail);
