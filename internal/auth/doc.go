// Package auth establishes who a caller is; package access then decides what
// the caller may do.
//
// Two services live here:
//
//   - TokenService issues and verifies registry tokens: ES256 JWTs in the
//     shape of the Docker registry token protocol (an "access" claim listing
//     what the token grants), plus long-lived refresh tokens for clients that
//     ask for offline tokens (containerd, helm). The signing keys live in the
//     metadata store so that every replica verifies what any replica issued;
//     they rotate on a schedule and the public halves are published as a
//     JWK set.
//   - Authenticator checks credentials: local passwords (argon2id), CLI and
//     robot secrets, registry tokens, and OIDC tokens of trusted workload
//     issuers (CI systems, Kubernetes) mapped to robot accounts by claim
//     rules. It limits failed attempts per account and per client address,
//     and answers every kind of failure with the same message so that
//     callers cannot tell which accounts exist.
//
// Hashing of passwords and secrets is in the leaf package auth/secret.
//
// Nothing here logs a password, a secret or a token.
package auth
