package tornet_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/lucidnet/lucid/testnet/tornet"
	"github.com/lucidnet/lucid/testnet/tornet/tortest"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	tortest.StopShared()
	os.Exit(code)
}

// End to end: one client tor publishes an onion service in front of a Go echo
// listener, another dials it through its SOCKS port, and the bytes come back.
func TestOnionServiceEcho(t *testing.T) {
	n := tortest.Shared(t)
	tm := n.Timings()
	t.Logf("network: keygen %v, spawn %v, consensus %v after spawn",
		tm.Keygen.Round(time.Millisecond), tm.Spawn.Round(time.Millisecond), tm.Consensus.Round(time.Millisecond))

	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()

	const onionPort = 80
	t0 := time.Now()
	svcDir := t.TempDir()
	hsDir := filepath.Join(svcDir, "hs")
	svc := startClient(t, n, svcDir, fmt.Sprintf(
		"SocksPort 0\nHiddenServiceDir %s\nHiddenServicePort %d %s\n", hsDir, onionPort, echo.Addr()))
	socksPort := freePort(t)
	cli := startClient(t, n, t.TempDir(), fmt.Sprintf("SocksPort 127.0.0.1:%d\n", socksPort))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []*client{svc, cli} {
		if err := c.waitLog(ctx, "Bootstrapped 100%"); err != nil {
			t.Fatal(err)
		}
	}
	bootstrap := time.Since(t0)
	t.Logf("both clients bootstrapped in %v", bootstrap.Round(time.Millisecond))

	host, err := waitFile(ctx, filepath.Join(hsDir, "hostname"))
	if err != nil {
		t.Fatal(err)
	}
	host = strings.TrimSpace(host)
	t.Logf("onion service %s", host)

	// The descriptor reaches the HSDirs a moment after bootstrap; until
	// then the dial fails and is retried.
	t1 := time.Now()
	msg := []byte("hello through a private onion")
	var lastErr error
	for attempt := 1; ; attempt++ {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		lastErr = echoOnce(dctx, fmt.Sprintf("127.0.0.1:%d", socksPort), host, onionPort, msg)
		dcancel()
		if lastErr == nil {
			t.Logf("first onion dial and echo after %v (%d attempts)", time.Since(t1).Round(time.Millisecond), attempt)
			break
		}
		t.Logf("attempt %d: %v", attempt, lastErr)
		select {
		case <-ctx.Done():
			t.Fatalf("no echo through %s.onion within 60 s: %v\n%s", host, lastErr, svc.logTail()+"\n"+cli.logTail())
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Logf("timings: keygen %v, consensus %v after spawn, client bootstrap %v, first dial %v",
		tm.Keygen.Round(time.Millisecond), tm.Consensus.Round(time.Millisecond),
		bootstrap.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
}

func TestStartWithoutTor(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if err := tornet.Available(); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Available() = %v, want exec.ErrNotFound", err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	n, err := tornet.Start(context.Background(), tornet.Config{Dir: dir})
	if err == nil {
		n.Stop()
		t.Fatal("Start succeeded without tor on PATH")
	}
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), `"tor"`) ||
		!strings.Contains(err.Error(), `"tor-gencert"`) {
		t.Fatalf("error does not name the missing programs: %v", err)
	}
	t.Logf("error: %v", err)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start left %s behind: %v", dir, err)
	}
}

// A Dir that holds someone else's files must never be wiped.
func TestStartRefusesForeignDir(t *testing.T) {
	if err := tornet.Available(); err != nil {
		t.Skipf("tor not installed: %v", err)
	}
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := tornet.Start(context.Background(), tornet.Config{Dir: dir})
	if err == nil {
		n.Stop()
		t.Fatal("Start used a non-empty foreign Dir")
	}
	if _, serr := os.Stat(keep); serr != nil {
		t.Fatalf("Start removed a foreign file: %v (Start: %v)", serr, err)
	}
}

type client struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startClient runs a client tor of n with extra torrc lines; it is stopped
// when the test ends.
func startClient(t *testing.T, n *tornet.Network, dir, extra string) *client {
	t.Helper()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	torrc := filepath.Join(dir, "torrc")
	conf := fmt.Sprintf("DataDirectory %s\nLog notice file %s\n", dir, filepath.Join(dir, "notice.log")) +
		n.ClientTorrc() + extra
	if err := os.WriteFile(torrc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-f", torrc, "--defaults-torrc", empty, "--hush",
		"--__OwningControllerProcess", strconv.Itoa(os.Getpid())}, n.ClientArgs()...)
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("tor", args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &client{dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	// Registered after the TempDir's cleanup, so it runs first: tor must
	// be gone before its directory is removed.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

func (c *client) waitLog(ctx context.Context, s string) error {
	for {
		b, _ := os.ReadFile(filepath.Join(c.dir, "notice.log"))
		if bytes.Contains(b, []byte(s)) {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("client tor in %s exited before %q:\n%s", c.dir, s, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("client tor in %s: no %q: %w\n%s", c.dir, s, ctx.Err(), c.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *client) logTail() string {
	return "--- " + c.dir + "\n" + tornet.Tail(filepath.Join(c.dir, "notice.log"), 15) +
		"\n" + tornet.Tail(filepath.Join(c.dir, "stdout.log"), 5)
}

func waitFile(ctx context.Context, file string) (string, error) {
	for {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			return string(b), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %s: %w", file, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func echoOnce(ctx context.Context, socks, host string, port int, msg []byte) error {
	c, err := dialSOCKS5(ctx, socks, host, port)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// dialSOCKS5 is a minimal RFC 1928 CONNECT client (no auth, domain name),
// so the test needs no proxy module; tor resolves the .onion name itself.
func dialSOCKS5(ctx context.Context, proxy, host string, port int) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, fmt.Errorf("socks5: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, fmt.Errorf("socks5 %s:%d: %w", host, port, err)
	}
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return fail(err)
	}
	var b [4]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return fail(err)
	}
	if b[0] != 5 || b[1] != 0 {
		return fail(fmt.Errorf("proxy refused no-auth method: % x", b[:2]))
	}
	req := append([]byte{5, 1, 0, 3, byte(len(host))}, host...)
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return fail(err)
	}
	if b[1] != 0 {
		return fail(fmt.Errorf("CONNECT failed, reply code %#x", b[1]))
	}
	var skip int
	switch b[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return fail(err)
		}
		skip = int(l[0]) + 2
	default:
		return fail(fmt.Errorf("bad address type %d in reply", b[3]))
	}
	if _, err := io.CopyN(io.Discard, c, int64(skip)); err != nil {
		return fail(err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
