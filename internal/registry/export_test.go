package registry

// SetVisibleBatch sets how many names ListVisibleRepositories reads per
// query, so a test can cross query boundaries with a few repositories. It
// returns a function restoring the old value.
func SetVisibleBatch(n int) (restore func()) {
	old := visibleBatch
	visibleBatch = n
	return func() { visibleBatch = old }
}
