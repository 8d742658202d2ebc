// Package bench is the engine of berthbench, a load tool that speaks the OCI
// Distribution API over plain HTTP and measures a registry server from the
// outside.
//
// The parts, from the bottom up:
//
//   - data.go: deterministic pseudo-random blob content, generated while it is
//     sent, so no blob is ever held in memory whatever its size;
//   - client.go: the request flows real clients use (POST then PUT for a
//     monolithic upload, POST then PATCH per chunk then PUT for a chunked one,
//     GET with digest verification, manifest PUT/HEAD/GET, paginated tag and
//     catalog listing that follows Link headers);
//   - stats.go, pool.go: percentile math and the worker pools that run a
//     fixed number of operations or run for a fixed time;
//   - proc.go: the server's CPU seconds and peak RSS read from /proc;
//   - scenario.go and scenario_*.go: the named scenarios and their fixtures;
//   - report.go, compare.go: one run's output, and the side-by-side comparison
//     of several rounds of two servers that scripts/bench.sh writes into
//     docs/benchmarks.md.
//
// Every non-2xx response is an error: it is counted, a sample of its message
// is kept, and both are printed with the results.
package bench
