//go:build !linux

package s3test

import "syscall"

// procAttr has nothing to add outside Linux: a server left by a test
// binary that did not run Main's cleanup must be stopped by hand.
func procAttr() *syscall.SysProcAttr { return nil }
