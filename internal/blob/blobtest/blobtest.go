// Package blobtest is the conformance suite every blob.Store driver runs.
//
// It tests the contract written in package blob, not any driver's storage
// details: a driver's test calls Run with a function that builds a fresh,
// empty store, and RunBenchmarks for comparable throughput numbers.
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blobtest.Harness {
//			s := newStore(t)
//			return blobtest.Harness{Store: s, Leftovers: func(t *testing.T) []string { ... }}
//		})
//	}
//
// Besides the documented results and error classes, the suite holds a
// driver to the promises the interfaces imply:
//   - no garbage: after Commit, Cancel and AbortUpload, Harness.Leftovers
//     is empty;
//   - a Writer's Write stops once the context it was opened with is done,
//     while Cancel and AbortUpload clean up even with a done context (a
//     deferred Cancel runs after the request was cancelled);
//   - a malformed digest is an errdefs.ErrInvalid error everywhere;
//   - memory does not grow with blob size.
//
// The test that calls Run must not call t.Parallel: the streaming checks
// read process-wide memory statistics and run after the parallel part of
// the suite, alone.
package blobtest

import (
	"testing"

	"github.com/berth-registry/berth/internal/blob"
)

// Harness is one fresh, empty store under test.
type Harness struct {
	// Store is the driver under test. Each Harness must be independent of
	// the others: subtests use their own in parallel.
	Store blob.Store
	// Leftovers lists the temporary or partial data the driver holds
	// (upload data, temporary files, multipart uploads), one readable name
	// each; nil or empty when there is none. Committed blobs are not
	// leftovers.
	Leftovers func(t *testing.T) []string
}

// contractTest is one behaviour of the contract, run on its own Harness.
type contractTest struct {
	name string
	fn   func(t *testing.T, h Harness)
}

// contractTests are the parallel part of the suite, in the order the
// contract in package blob introduces the behaviours.
var contractTests = []contractTest{
	{"RoundTrip", testRoundTrip},
	{"OpenSeek", testOpenSeek},
	{"Missing", testMissing},
	{"MalformedDigest", testMalformedDigest},
	{"CommitMismatch", testCommitMismatch},
	{"Dedupe", testDedupe},
	{"ZeroBytes", testZeroBytes},
	{"SHA512", testSHA512},
	{"Cancel", testCancel},
	{"Delete", testDelete},
	{"ConcurrentSameContent", testConcurrentSameContent},
	{"Resume", testResume},
	{"ResumeTruncates", testResumeTruncates},
	{"ResumeShorter", testResumeShorter},
	{"ResumeMissing", testResumeMissing},
	{"StaleState", testStaleState},
	{"AbortUpload", testAbortUpload},
	{"ContextCancellation", testContextCancellation},
	{"ListUploads", testListUploads},
	{"DeleteMany", testDeleteMany},
}

// Run runs the conformance suite. newHarness is called once per subtest
// and must return a fresh, empty store, cleaned up through t.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("Contract", func(t *testing.T) {
		for _, tc := range contractTests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, harness(t, newHarness))
			})
		}
	})
	// The parallel subtests above have finished when t.Run returns, so the
	// memory measurements below see only their own work.
	t.Run("Streaming", func(t *testing.T) {
		testStreaming(t, harness(t, newHarness))
	})
}

// harness builds a Harness and checks that it is complete.
func harness(t *testing.T, newHarness func(t *testing.T) Harness) Harness {
	t.Helper()
	h := newHarness(t)
	if h.Store == nil || h.Leftovers == nil {
		t.Fatal("blobtest: Harness needs both Store and Leftovers")
	}
	return h
}
