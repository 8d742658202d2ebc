package s3test

import "syscall"

// procAttr makes the server die with the test binary, even if it exits
// without running Main's cleanup (a panic, os.Exit, a timeout).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
