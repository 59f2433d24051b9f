// Package brokertest runs hack/devbroker as a separate process, for tests
// that need the broker to outlive, crash independently of, or be shared by
// the processes under test. In-process tests can use kfake directly instead.
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Package is what Build compiles; by import path so that any module of the
// workspace can build it regardless of its working directory.
const Package = "xinfang.io/hack/devbroker"

// Broker is one running devbroker process.
type Broker struct {
	// Addr is the host:port from the broker's ready file.
	Addr string

	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // from Wait; read only after exited is closed
}

// Pid is the broker process's id (for its CPU time in benchmarks).
func (b *Broker) Pid() int { return b.cmd.Process.Pid }

// Build compiles the broker into a test temp dir and returns the binary.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "devbroker")
	out, err := exec.Command("go", "build", "-o", bin, Package).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", Package, err, out)
	}
	return bin
}

// FreePort picks a port below the ephemeral range (32768 up), where the OS
// never hands one out on its own, so only another fixed-port program could
// take it between this check and the broker's bind.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free port found in 20000-32000")
	return 0
}

// Start runs bin with args and a -ready-file of its own, and returns once the
// broker has written that file. The process is killed at the end of the test
// if still running, and its stderr is logged if the test failed.
func Start(ctx context.Context, t testing.TB, bin string, args ...string) *Broker {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	b := &Broker{stderr: &syncBuffer{}, exited: make(chan struct{})}
	b.cmd = exec.Command(bin, append(args, "-ready-file", ready)...)
	b.cmd.Stderr = b.stderr
	b.cmd.SysProcAttr = procAttr()
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("broker %v stderr:\n%s", b.cmd.Args, b.stderr.String())
		}
	})

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		data, err := os.ReadFile(ready)
		if err == nil {
			b.Addr = strings.TrimSuffix(string(data), "\n")
			if b.Addr == "" || strings.ContainsAny(b.Addr, "\n ") {
				t.Fatalf("malformed ready file %q", data)
			}
			return b
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("reading ready file: %v", err)
		}
		select {
		case <-b.exited:
			t.Fatalf("broker exited before it was ready: %v\n%s", b.err, b.stderr.String())
		case <-deadline:
			t.Fatal("broker did not write its ready file within 15s")
		case <-ctx.Done():
			t.Fatalf("waiting for broker: %v", ctx.Err())
		case <-tick.C:
		}
	}
}

// Kill sends SIGKILL, as a crash would, and waits for the process to go.
func (b *Broker) Kill(t testing.TB) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL broker: %v", err)
	}
	<-b.exited
}

// Stop sends SIGTERM and fails the test unless the broker exits cleanly.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM broker: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not exit within 10s of SIGTERM")
	}
	if b.err != nil {
		t.Fatalf("broker exited with %v after SIGTERM", b.err)
	}
}

// Stderr returns what the broker has logged so far.
func (b *Broker) Stderr() string { return b.stderr.String() }

// syncBuffer is written by the exec package's copying goroutine while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
