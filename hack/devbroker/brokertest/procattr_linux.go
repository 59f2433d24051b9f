package brokertest

import "syscall"

// procAttr makes the kernel kill the broker when the test process dies
// without running its cleanups (go test's timeout panic, a SIGKILL, a closed
// output pipe); otherwise the broker would keep its port and data dir.
// Strictly it fires when the forking OS thread exits, which the Go runtime
// only does for a goroutine that exits while locked to its thread.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
