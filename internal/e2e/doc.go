// Package e2e holds Berth's end-to-end tests; it has no code of its own.
//
// Every test runs the real `berth serve` binary (built once by
// berthtest.Build) on 127.0.0.1 and talks to it over real HTTP or HTTPS:
// the OCI conformance program, real clients (crane, oras, regctl, skopeo)
// with byte-for-byte round trips, crash recovery after SIGKILL, graceful
// shutdown, metrics and the command line. External tools are found on PATH;
// scripts/test.sh installs pinned versions and makes a missing tool fail
// the run instead of skipping. `go test -short` skips the package.
// docs/testing.md explains how to run parts of it.
package e2e
