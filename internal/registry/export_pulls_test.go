package registry

// SetMaxPendingPulls sets how many manifests may have pulls noted between
// two flushes, so a test can fill the set with a few manifests. It returns
// a function restoring the old value.
func SetMaxPendingPulls(n int) (restore func()) {
	old := maxPendingPulls
	maxPendingPulls = n
	return func() { maxPendingPulls = old }
}
