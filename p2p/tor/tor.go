package tor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
	binetor "github.com/cretz/bine/tor"
)

const (
	defaultBootstrapTimeout = 3 * time.Minute
	// Publishing a descriptor takes ~1 s on a private network but tens of
	// seconds on the real one when HSDirs are slow.
	defaultListenTimeout = 3 * time.Minute
	// How long a HALTed tor gets to exit before it is killed.
	exitGrace = 5 * time.Second
)

// ErrTorMissing is returned (wrapped) by Start when the tor binary cannot be
// found.
var ErrTorMissing = errors.New("tor binary not found: install the `tor` package (apt-get install tor) or set the tor path")

// ErrBootstrap matches (errors.Is) a *BootstrapError.
var ErrBootstrap = errors.New("tor did not bootstrap")

// BootstrapError reports a tor that did not reach 100 % bootstrap in time,
// with the last progress tor reported so the operator can see where it
// stuck (e.g. 5 % "Connecting to a relay" means no network).
type BootstrapError struct {
	Progress int
	Summary  string
	Timeout  time.Duration
	Err      error // the context error that ended the wait
}

func (e *BootstrapError) Error() string {
	return fmt.Sprintf("tor did not bootstrap within %v: stuck at %d%% (%s): %v", e.Timeout, e.Progress, e.Summary, e.Err)
}

// Is makes errors.Is(err, ErrBootstrap) true.
func (e *BootstrapError) Is(target error) bool { return target == ErrBootstrap }

func (e *BootstrapError) Unwrap() error { return e.Err }

// Config says how to get a tor: start and own one (the default) or attach
// to a running one (ControlAddr set).
type Config struct {
	// TorPath is the tor binary; empty means "tor" on $PATH.
	TorPath string
	// DataDir is tor's data directory (keys, consensus cache, notice.log).
	// Required when tor is started here; use a directory in the node home so
	// the guard choice and consensus cache survive restarts.
	DataDir string
	// Torrc holds extra torrc lines, e.g. a private network's
	// "TestingTorNetwork 1" and "DirAuthority" lines. Log lines here are
	// overridden: tor logs to DataDir/notice.log and warnings go to Logger.
	Torrc string
	// ExtraArgs are appended to tor's command line.
	ExtraArgs []string

	// ControlAddr ("127.0.0.1:9051" or "unix:/run/tor/control") attaches to a
	// running tor instead of starting one. Authentication is cookie or none
	// (as tor offers) or ControlPassword for HashedControlPassword.
	ControlAddr     string
	ControlPassword string
	// SocksAddr overrides the SOCKS listener that is otherwise asked from
	// tor (GETINFO net/listeners/socks).
	SocksAddr string

	// BootstrapTimeout bounds the wait for 100 % bootstrap (default 3 min).
	BootstrapTimeout time.Duration
	// ListenTimeout bounds the wait for an onion descriptor upload in
	// Transport.Listen, which has no context of its own (default 3 min).
	ListenTimeout time.Duration
	// Logger receives progress and tor's warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Tor is a running, bootstrapped tor reached through its control port.
type Tor struct {
	cfg   Config
	log   *slog.Logger
	ctrl  *control.Conn
	bine  *binetor.Tor // wraps ctrl for bine's Listen (ADD_ONION + wait for upload)
	owned bool

	// Owned process only.
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	exitErr error         // valid after exited is closed
	out     *tailWriter

	socksNet, socksAddr string

	// bine's control.Conn dispatches events to listeners from whichever
	// goroutine reads next, and two overlapping EventWaits can send on a
	// closed channel; so only one Listen (the only EventWait user) at a time.
	listenMu sync.Mutex

	// ctx is cancelled by Close so pending Listens and Dials end with it.
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	closed      bool
	lastPercent int
	lastSummary string
}

// Start starts tor (or attaches to one, see Config.ControlAddr) and waits
// until it has bootstrapped to 100 %. ctx bounds only the start-up; the
// returned Tor lives until Close.
func Start(ctx context.Context, cfg Config) (*Tor, error) {
	if cfg.BootstrapTimeout <= 0 {
		cfg.BootstrapTimeout = defaultBootstrapTimeout
	}
	if cfg.ListenTimeout <= 0 {
		cfg.ListenTimeout = defaultListenTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rootCtx, cancel := context.WithCancel(context.Background())
	t := &Tor{cfg: cfg, log: log.With("component", "tor"), ctx: rootCtx, cancel: cancel}
	var err error
	if cfg.ControlAddr != "" {
		err = t.attach(ctx)
	} else {
		t.owned = true
		err = t.startProcess(ctx)
	}
	if err == nil {
		t.bine = &binetor.Tor{Control: t.ctrl, DataDir: cfg.DataDir}
		err = t.waitBootstrap(ctx)
	}
	if err == nil {
		err = t.lookupSocks(ctx)
	}
	if err != nil {
		if cerr := t.Close(); cerr != nil {
			t.log.Warn("cleanup after failed start", "err", cerr)
		}
		return nil, err
	}
	t.log.Info("tor ready", "owned", t.owned, "socks", t.socksAddr)
	return t, nil
}

func (t *Tor) startProcess(ctx context.Context) error {
	cfg := t.cfg
	torPath := cfg.TorPath
	if torPath == "" {
		torPath = "tor"
	}
	exe, err := exec.LookPath(torPath)
	if err != nil {
		return fmt.Errorf("%w (looked for %q: %v)", ErrTorMissing, torPath, err)
	}
	if cfg.DataDir == "" {
		return errors.New("tor: Config.DataDir is required to start tor")
	}
	dd, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("tor data dir: %w", err)
	}
	t.cfg.DataDir = dd
	// tor refuses a data directory that other users can read.
	if err := os.MkdirAll(dd, 0o700); err != nil {
		return fmt.Errorf("tor data dir: %w", err)
	}
	if err := os.Chmod(dd, 0o700); err != nil {
		return fmt.Errorf("tor data dir: %w", err)
	}
	torrc := filepath.Join(dd, "torrc")
	body := "# Written by lucid at every start; edit the node config instead.\n" + cfg.Torrc + "\n"
	if err := os.WriteFile(torrc, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write torrc: %w", err)
	}
	portFile := filepath.Join(dd, "control-port")
	if err := os.Remove(portFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale control port file: %w", err)
	}
	args := []string{
		"-f", torrc,
		"--DataDirectory", dd,
		// Network stays off until we are connected and watching, so that
		// bootstrap progress is observed from 0 and a test network's tors are
		// not started before its consensus exists.
		"--DisableNetwork", "1",
		"--CookieAuthentication", "1",
		// auto ports: never clash with a system tor on 9050/9051.
		"--SocksPort", "auto",
		"--ControlPort", "auto",
		"--ControlPortWriteToFile", portFile,
		// tor exits by itself if this process dies without Close.
		"--__OwningControllerProcess", strconv.Itoa(os.Getpid()),
		"--Log", "notice file " + filepath.Join(dd, "notice.log"),
		"--Log", "warn stdout",
		// Until the Log lines take effect tor prints notices to stdout;
		// --hush limits that to warnings too.
		"--hush",
	}
	args = append(args, cfg.ExtraArgs...)
	t.out = &tailWriter{log: t.log}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = t.out, t.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start tor: %w", err)
	}
	t.cmd = cmd
	t.exited = make(chan struct{})
	go func() {
		t.exitErr = cmd.Wait()
		close(t.exited)
	}()
	t.log.Info("started tor", "pid", cmd.Process.Pid, "data_dir", dd)

	// tor writes "PORT=127.0.0.1:<port>" once the control listener is open.
	addr, err := t.waitPortFile(ctx, portFile)
	if err != nil {
		return err
	}
	if err := t.connectControl(ctx, "tcp", addr, ""); err != nil {
		return err
	}
	// With ownership taken, tor exits as soon as this control connection
	// closes, so a crashed node does not leave an orphan tor behind.
	if err := t.call(ctx, func() error { _, err := t.ctrl.SendRequest("TAKEOWNERSHIP"); return err }); err != nil {
		return fmt.Errorf("tor TAKEOWNERSHIP: %w", err)
	}
	if err := t.call(ctx, func() error { return t.ctrl.SetConf(control.KeyVals("DisableNetwork", "0")...) }); err != nil {
		return fmt.Errorf("tor enable network: %w", err)
	}
	return nil
}

func (t *Tor) waitPortFile(ctx context.Context, path string) (string, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			if s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "PORT="); ok && strings.Contains(s, ":") {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for tor's control port: %w (tor output: %s)", ctx.Err(), t.out.tail())
		case <-t.exited:
			return "", fmt.Errorf("tor exited at start-up: %v (tor output: %s)", t.exitErr, t.out.tail())
		case <-tick.C:
		}
	}
}

func (t *Tor) attach(ctx context.Context) error {
	network, addr := "tcp", t.cfg.ControlAddr
	if a, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", a
	}
	return t.connectControl(ctx, network, addr, t.cfg.ControlPassword)
}

func (t *Tor) connectControl(ctx context.Context, network, addr, password string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("connect to tor control port %s: %w", addr, err)
	}
	t.ctrl = control.NewConn(textproto.NewConn(c))
	// Authenticate has no context; a deadline on the socket bounds it.
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	err = t.ctrl.Authenticate(password)
	_ = c.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("authenticate to tor control port %s: %w", addr, err)
	}
	return nil
}

// call runs a control-port command that has no context of its own, giving up
// (and leaving it to finish in the background) when ctx ends or tor exits.
func (t *Tor) call(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.exitedChan():
		return fmt.Errorf("tor exited: %v (tor output: %s)", t.exitErr, t.out.tail())
	}
}

// exitedChan is nil (blocks forever) for an attached tor.
func (t *Tor) exitedChan() <-chan struct{} {
	if t.exited == nil {
		return nil
	}
	return t.exited
}

func (t *Tor) waitBootstrap(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.BootstrapTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := -1
	for {
		pct, summary, err := t.progress(ctx)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("tor bootstrap status: %w", err)
		}
		if err == nil && pct != last {
			t.log.Info("tor bootstrap", "percent", pct, "summary", summary)
			last = pct
		}
		if err == nil && pct >= 100 {
			return nil
		}
		select {
		case <-ctx.Done():
			pct, summary := t.Progress()
			return &BootstrapError{Progress: pct, Summary: summary, Timeout: t.cfg.BootstrapTimeout, Err: ctx.Err()}
		case <-tick.C:
		}
	}
}

var (
	progressRe = regexp.MustCompile(`\bPROGRESS=(\d+)`)
	summaryRe  = regexp.MustCompile(`\bSUMMARY="((?:[^"\\]|\\.)*)"`)
	warningRe  = regexp.MustCompile(`\bWARNING="((?:[^"\\]|\\.)*)"`)
)

// parseBootstrapPhase reads tor's "NOTICE BOOTSTRAP PROGRESS=.. TAG=..
// SUMMARY=".." [WARNING=".." ...]" status line.
func parseBootstrapPhase(s string) (int, string, error) {
	m := progressRe.FindStringSubmatch(s)
	if m == nil {
		return 0, "", fmt.Errorf("no PROGRESS in bootstrap phase %q", s)
	}
	pct, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, "", fmt.Errorf("bad PROGRESS in %q: %w", s, err)
	}
	summary := ""
	if m := summaryRe.FindStringSubmatch(s); m != nil {
		summary = m[1]
	}
	if m := warningRe.FindStringSubmatch(s); m != nil {
		summary += " (warning: " + m[1] + ")"
	}
	return pct, summary, nil
}

func (t *Tor) progress(ctx context.Context) (int, string, error) {
	var phase string
	err := t.call(ctx, func() error {
		kv, err := t.ctrl.GetInfo("status/bootstrap-phase")
		if err != nil {
			return err
		}
		if len(kv) != 1 {
			return fmt.Errorf("unexpected GETINFO status/bootstrap-phase reply %v", kv)
		}
		phase = kv[0].Val
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	pct, summary, err := parseBootstrapPhase(phase)
	if err != nil {
		return 0, "", err
	}
	t.mu.Lock()
	t.lastPercent, t.lastSummary = pct, summary
	t.mu.Unlock()
	return pct, summary, nil
}

// Progress reports tor's bootstrap percentage and phase summary for health
// checks. If the control port does not answer within 2 s, it returns the
// last known values with the error appended to the summary.
func (t *Tor) Progress() (percent int, summary string) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if !closed {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pct, s, err := t.progress(ctx)
		if err == nil {
			return pct, s
		}
		summary = "control port: " + err.Error()
	} else {
		summary = "closed"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastSummary != "" {
		summary = t.lastSummary + "; " + summary
	}
	return t.lastPercent, summary
}

func (t *Tor) lookupSocks(ctx context.Context) error {
	if t.cfg.SocksAddr != "" {
		t.socksNet, t.socksAddr = "tcp", t.cfg.SocksAddr
		if a, ok := strings.CutPrefix(t.cfg.SocksAddr, "unix:"); ok {
			t.socksNet, t.socksAddr = "unix", a
		}
		return nil
	}
	var resp *control.Response
	err := t.call(ctx, func() (err error) {
		resp, err = t.ctrl.SendRequest("GETINFO net/listeners/socks")
		return err
	})
	if err != nil {
		return fmt.Errorf("tor SOCKS listener: %w", err)
	}
	// Reply: net/listeners/socks="127.0.0.1:9050" ["unix:/path" ...]
	for _, line := range resp.Data {
		v, ok := strings.CutPrefix(line, "net/listeners/socks=")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(v) {
			f = strings.Trim(f, `"`)
			if a, ok := strings.CutPrefix(f, "unix:"); ok {
				t.socksNet, t.socksAddr = "unix", a
			} else {
				t.socksNet, t.socksAddr = "tcp", f
			}
			return nil
		}
	}
	return errors.New("tor has no SOCKS listener (set SocksPort, or Config.SocksAddr)")
}

// Close stops an owned tor (all its onion services go with it) or detaches
// from an attached one (onion services added through this connection are
// removed by tor when the control connection closes).
func (t *Tor) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()

	var errs []error
	if t.ctrl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), exitGrace)
		if t.owned {
			// HALT is immediate shutdown; ownership would also stop it when
			// the connection closes, but HALT does not depend on that.
			_ = t.call(ctx, func() error { return t.ctrl.Signal("HALT") })
		}
		if err := t.call(ctx, t.ctrl.Close); err != nil && !t.owned {
			errs = append(errs, fmt.Errorf("close tor control connection: %w", err))
		}
		cancel()
	}
	if t.cmd != nil {
		select {
		case <-t.exited:
		case <-time.After(exitGrace):
			t.log.Warn("tor did not exit after HALT; killing it", "pid", t.cmd.Process.Pid)
			_ = t.cmd.Process.Kill()
			select {
			case <-t.exited:
			case <-time.After(exitGrace):
				errs = append(errs, fmt.Errorf("tor pid %d did not exit after kill", t.cmd.Process.Pid))
			}
		}
	}
	return errors.Join(errs...)
}

// tailWriter logs tor's stdout/stderr (warnings and start-up errors) line by
// line and keeps the last lines for error messages.
type tailWriter struct {
	log   *slog.Logger
	mu    sync.Mutex
	buf   []byte
	lines []string
}

const tailLines = 10

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		if line == "" {
			continue
		}
		level := slog.LevelWarn
		switch {
		case strings.Contains(line, "[notice]"):
			level = slog.LevelInfo
		case strings.Contains(line, "[err]"):
			level = slog.LevelError
		}
		w.log.Log(context.Background(), level, "tor says", "line", line)
		w.lines = append(w.lines, line)
		if len(w.lines) > tailLines {
			w.lines = w.lines[1:]
		}
	}
	return len(p), nil
}

func (w *tailWriter) tail() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.lines
	if len(w.buf) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(w.buf))
	}
	if len(lines) == 0 {
		return "(none)"
	}
	return strings.Join(lines, " | ")
}
