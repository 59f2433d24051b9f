//go:build !linux

package brokertest

import "syscall"

// procAttr: only Linux can tie the broker's life to the test process.
func procAttr() *syscall.SysProcAttr { return nil }
