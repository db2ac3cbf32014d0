// Package tornet generates and runs a small private Tor network on
// 127.0.0.1: three directory authorities (which are also relays and the only
// HSDirs) and a few plain relays, with no exits. Client tors configured with
// ClientTorrc can bootstrap from it, publish onion services and reach them,
// without any traffic leaving the machine. It is the harness behind the
// onion-transport tests and `lucid testnet up --tor`.
//
// The settings follow a measured recipe (shared/notes/tor.md); most of them
// exist to get from nothing to a usable network in about 10-20 s instead of
// minutes, and each one that is not obvious says why next to it.
package tornet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// Voting schedule: a 10 s interval with 2 s vote and distribution delays was
// stable in a 5.5-minute soak and gives the first consensus about 8 s after
// launch (20/4/4 costs ~4 s more). A consensus stays valid for two
// intervals, so clients lose it if the authorities stall for ~20 s.
const (
	voteInterval = 10
	voteDelay    = 2
	distDelay    = 2
	// voteLead is how long after launch the first vote starts: enough for
	// the relays to upload their descriptors, so the first consensus lists
	// all of them rather than clients waiting a whole interval for the next.
	// The notes measured 4 s; on a box at load 8 that missed relays once in
	// seven runs (+10 s), so one more second buys the margin.
	voteLead = 5

	numAuthorities = 3
	defaultRelays  = 2
	defaultTimeout = 90 * time.Second
	stopGrace      = 5 * time.Second
	// marker marks a Dir as ours, so a rerun may wipe it and a mistyped
	// Dir pointing somewhere else is never wiped.
	marker = ".tornet"
)

// Available reports why the harness cannot run here (tor or tor-gencert
// missing), or nil.
func Available() error {
	_, _, err := lookTools()
	return err
}

func lookTools() (torBin, gencertBin string, err error) {
	torBin, torErr := exec.LookPath("tor")
	gencertBin, gencertErr := exec.LookPath("tor-gencert")
	const hint = "the tor package (Debian: apt-get install tor) provides both"
	switch {
	case torErr != nil && gencertErr != nil:
		return "", "", fmt.Errorf("tornet: %w; %w; %s", torErr, gencertErr, hint)
	case torErr != nil:
		return "", "", fmt.Errorf("tornet: %w; %s", torErr, hint)
	case gencertErr != nil:
		return "", "", fmt.Errorf("tornet: %w; %s", gencertErr, hint)
	}
	return torBin, gencertBin, nil
}

// Config shapes a network. The zero value is the measured recipe: 3
// authorities (also relays and HSDirs), 2 relays, voting 10/2/2 s.
type Config struct {
	Dir     string        // empty: a new temp dir removed by Stop
	Relays  int           // plain relays, default 2
	Log     io.Writer     // progress lines; nil: discard
	Timeout time.Duration // readiness timeout (all of Start), default 90 s
}

// Timings are the durations of Start's phases.
type Timings struct {
	// Keygen is the generation of the authority and relay keys.
	Keygen time.Duration
	// Spawn is from launching the first tor until every authority
	// accepts connections and every relay is launched.
	Spawn time.Duration
	// Consensus is from launching the first tor until every authority
	// serves a consensus listing every relay.
	Consensus time.Duration
}

// Network is a running private Tor network.
type Network struct {
	// Dir holds one data directory per node (a1..a3, r1..), each with its
	// torrc, notice.log and stdout.log.
	Dir string

	torBin   string
	tempDir  bool
	nodes    []*node
	dirAuths string
	timings  Timings
	log      io.Writer

	stopOnce sync.Once
	stopErr  error
}

type node struct {
	name    string
	auth    bool
	dir     string
	orPort  int
	dirPort int // authorities only
	v3ident string
	fpr     string

	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	waitErr error         // valid after done
}

// Start generates keys and torrcs, starts the authorities and relays as
// child processes, and returns once every authority's DirPort serves a
// consensus listing every relay. On failure it stops what it started and the
// error includes the tails of the nodes' logs.
func Start(ctx context.Context, cfg Config) (_ *Network, err error) {
	torBin, gencertBin, err := lookTools()
	if err != nil {
		return nil, err
	}
	if cfg.Relays <= 0 {
		cfg.Relays = defaultRelays
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	n := &Network{torBin: torBin, log: cfg.Log}
	if err := n.prepareDir(cfg.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tails := n.logTails()
			if stopErr := n.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			if tails != "" {
				err = fmt.Errorf("%w\n%s", err, tails)
			}
		}
	}()

	if err := n.layout(cfg.Relays); err != nil {
		return nil, err
	}

	t0 := time.Now()
	if err := n.genKeys(ctx, gencertBin); err != nil {
		return nil, err
	}
	n.timings.Keygen = time.Since(t0)
	n.logf("keys for %d nodes generated in %v", len(n.nodes), n.timings.Keygen.Round(time.Millisecond))

	if err := n.writeTorrcs(); err != nil {
		return nil, err
	}

	t1 := time.Now()
	if err := n.spawn(ctx); err != nil {
		return nil, err
	}
	n.timings.Spawn = time.Since(t1)
	n.logf("%d tor processes running in %v", len(n.nodes), n.timings.Spawn.Round(time.Millisecond))

	if err := n.waitConsensus(ctx); err != nil {
		return nil, err
	}
	n.timings.Consensus = time.Since(t1)
	n.logf("every authority serves a consensus with all %d relays, %v after launch",
		len(n.nodes), n.timings.Consensus.Round(time.Millisecond))
	return n, nil
}

func (n *Network) logf(format string, args ...any) {
	fmt.Fprintf(n.log, "tornet: "+format+"\n", args...)
}

func (n *Network) prepareDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "tornet-")
		if err != nil {
			return fmt.Errorf("tornet: %w", err)
		}
		n.Dir, n.tempDir = d, true
		return nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	// Paths end up unquoted in torrc lines such as "Log notice file PATH",
	// where a space would split the value.
	if strings.ContainsAny(dir, " \t\n\"'\\") {
		return fmt.Errorf("tornet: Dir %q contains whitespace, quotes or backslashes, which torrc lines cannot carry", dir)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("tornet: %w", err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("tornet: Dir %s is neither empty nor a previous tornet directory (no %s file)", dir, marker)
		}
		// Old keys and cached consensuses of another network would only
		// confuse the new one.
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("tornet: clearing %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	n.Dir = dir
	return nil
}

// layout names the nodes, makes their directories and reserves their ports.
func (n *Network) layout(relays int) error {
	if err := os.WriteFile(filepath.Join(n.Dir, marker), nil, 0o600); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	// The empty --defaults-torrc of every tor.
	if err := os.WriteFile(n.emptyFile(), nil, 0o600); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	// Relays must never send DNS off the machine, whatever code path
	// decides to resolve something.
	if err := os.WriteFile(n.resolvConf(), []byte("nameserver 127.0.0.1\n"), 0o600); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	for i := range numAuthorities + relays {
		nd := &node{auth: i < numAuthorities, done: make(chan struct{})}
		if nd.auth {
			nd.name = fmt.Sprintf("a%d", i+1)
		} else {
			nd.name = fmt.Sprintf("r%d", i-numAuthorities+1)
		}
		nd.dir = filepath.Join(n.Dir, nd.name)
		// tor refuses data directories that others can read.
		if err := os.MkdirAll(filepath.Join(nd.dir, "keys"), 0o700); err != nil {
			return fmt.Errorf("tornet: %w", err)
		}
		n.nodes = append(n.nodes, nd)
	}

	// Ports come from the kernel rather than a fixed base, so that
	// packages tested in parallel never collide. Holding every listener
	// until all are chosen keeps them distinct; the short window between
	// closing them and tor binding is the usual :0 trade-off.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	port := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("tornet: reserving a port: %w", err)
		}
		ls = append(ls, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	for _, nd := range n.nodes {
		var err error
		if nd.orPort, err = port(); err != nil {
			return err
		}
		if nd.auth {
			if nd.dirPort, err = port(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *Network) emptyFile() string  { return filepath.Join(n.Dir, "empty") }
func (n *Network) resolvConf() string { return filepath.Join(n.Dir, "resolv.conf") }

// genKeys creates every authority's v3 identity, signing key and
// certificate, and every node's relay identity keys, all in parallel. The
// relay keys are made up front (not left to tor at start) so the
// fingerprints are known for the DirAuthority lines and the relays start fast
// enough to be in the first consensus.
func (n *Network) genKeys(ctx context.Context, gencertBin string) error {
	var wg sync.WaitGroup
	errs := make([]error, 2*len(n.nodes))
	run := func(i int, cmd *exec.Cmd) {
		defer wg.Done()
		if out, err := cmd.CombinedOutput(); err != nil {
			errs[i] = fmt.Errorf("tornet: %s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
		}
	}
	for i, nd := range n.nodes {
		if nd.auth {
			keys := filepath.Join(nd.dir, "keys")
			cmd := exec.CommandContext(ctx, gencertBin, "--create-identity-key", "--passphrase-fd", "0",
				"-m", "12", // months of validity; keys are made fresh on every start
				"-i", filepath.Join(keys, "authority_identity_key"),
				"-s", filepath.Join(keys, "authority_signing_key"),
				"-c", filepath.Join(keys, "authority_certificate"),
				"-a", "127.0.0.1:"+strconv.Itoa(nd.dirPort))
			cmd.Stdin = strings.NewReader("\n") // empty passphrase
			cmd.Dir = nd.dir
			wg.Add(1)
			go run(2*i, cmd)
		}
		// --orport makes tor create relay (not just client) keys.
		cmd := exec.CommandContext(ctx, n.torBin, "--ignore-missing-torrc",
			"-f", filepath.Join(nd.dir, "no-torrc"), "--defaults-torrc", n.emptyFile(),
			"--orport", "1", "--datadirectory", nd.dir, "--list-fingerprint", "--hush")
		wg.Add(1)
		go run(2*i+1, cmd)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var lines []string
	for _, nd := range n.nodes {
		var err error
		// Without a Nickname, --list-fingerprint writes "Unnamed <FPR>".
		if nd.fpr, err = fieldAfter(filepath.Join(nd.dir, "fingerprint"), "Unnamed"); err != nil {
			return err
		}
		if !nd.auth {
			continue
		}
		if nd.v3ident, err = fieldAfter(filepath.Join(nd.dir, "keys", "authority_certificate"), "fingerprint"); err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
			nd.name, nd.orPort, nd.v3ident, nd.dirPort, nd.fpr))
	}
	n.dirAuths = strings.Join(lines, "\n") + "\n"
	return nil
}

// fieldAfter returns the word after key on the first line of file that
// starts with key.
func fieldAfter(file, key string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("tornet: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == key {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("tornet: no %q line in %s", key, file)
}

var torrcTemplate = template.Must(template.New("torrc").Parse(`# Generated by lucid testnet/tornet; regenerated on every start.
TestingTorNetwork 1
DataDirectory {{.Dir}}
Nickname {{.Name}}
# Go owns the process: no fork, and __OwningControllerProcess on the command
# line makes tor exit when the Go process dies.
RunAsDaemon 0
Log notice file {{.Dir}}/notice.log
SafeLogging 0
LogTimeGranularity 1
ShutdownWaitLength 0
# An empty value skips 1-2.4 s of GeoIP parsing per start.
GeoIPFile ""
GeoIPv6File ""
# A tiny network never knows 80% of the path bandwidth that tor otherwise
# waits for before building circuits.
PathsNeededToBuildCircuits 0.67
{{.DirAuths}}
SocksPort 0
Address 127.0.0.1
ORPort 127.0.0.1:{{.ORPort}}
# Upload the descriptor at once instead of after a reachability self-test,
# so the relay is in the first consensus.
AssumeReachable 1
# No exits: onion services do not need them, and an exit would resolve
# names through the machine's resolver, off the machine.
ExitRelay 0
ExitPolicy reject *:*
ServerDNSDetectHijacking 0
ServerDNSTestAddresses
ServerDNSResolvConfFile {{.ResolvConf}}
ContactInfo {{.Name}}@test.invalid
{{- if .Auth}}
DirPort 127.0.0.1:{{.DirPort}}
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingDirAuthVoteGuard *
TestingDirAuthVoteExit *
TestingMinExitFlagThreshold 0
# HSDir only for the authorities, which are the only directory caches:
# descriptor fetches sent to a relay with DirCache 0 hang for 30 s.
TestingDirAuthVoteHSDir {{.AuthFprs}}
TestingDirAuthVoteHSDirIsStrict 1
V3AuthNIntervalsValid 2
V3AuthVotingInterval {{.Vote}}
V3AuthVoteDelay {{.VoteDelay}}
V3AuthDistDelay {{.DistDelay}}
TestingV3AuthInitialVotingInterval {{.Vote}}
TestingV3AuthInitialVoteDelay {{.VoteDelay}}
TestingV3AuthInitialDistDelay {{.DistDelay}}
# Every relay Stable from the first consensus: onion-service circuits need
# Stable relays, and otherwise only the longest-running ones get the flag.
AuthDirVoteStableGuaranteeMinUptime 0
AuthDirVoteStableGuaranteeMTBF 0
# With 5 relays, vanguards-lite's layer-2 set is every non-guard relay, which
# leaves no valid last hop and onion circuits fail for 15-20 s. Clients follow
# this consensus parameter while their VanguardsLiteEnabled is auto.
ConsensusParams vanguards-lite-enabled=0
{{- else}}
# Not a directory cache: a fresh cache answers 404 to microdescriptor
# requests and the client backs off ~10 s; clients use the authorities.
DirCache 0
{{- end}}
`))

func (n *Network) writeTorrcs() error {
	var fprs []string
	for _, nd := range n.nodes {
		if nd.auth {
			fprs = append(fprs, "$"+nd.fpr)
		}
	}
	for _, nd := range n.nodes {
		var b bytes.Buffer
		err := torrcTemplate.Execute(&b, map[string]any{
			"Dir": nd.dir, "Name": nd.name, "ResolvConf": n.resolvConf(),
			"DirAuths": strings.TrimSuffix(n.dirAuths, "\n"), "ORPort": nd.orPort, "DirPort": nd.dirPort,
			"Auth": nd.auth, "AuthFprs": strings.Join(fprs, ","),
			"Vote": voteInterval, "VoteDelay": voteDelay, "DistDelay": distDelay,
		})
		if err != nil {
			return fmt.Errorf("tornet: torrc for %s: %w", nd.name, err)
		}
		if err := os.WriteFile(filepath.Join(nd.dir, "torrc"), b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("tornet: %w", err)
		}
	}
	return nil
}

// votingStartOffset shifts the authorities' voting schedule, which is
// otherwise aligned to wall-clock multiples of the interval, so that the
// first vote starts voteLead seconds from now: early enough not to wait,
// late enough for every relay's descriptor to be there.
func votingStartOffset(now time.Time) int {
	return int((now.Unix() + voteLead + voteDelay + distDelay) % voteInterval)
}

func (n *Network) spawn(ctx context.Context) error {
	off := votingStartOffset(time.Now())
	for _, nd := range n.nodes {
		if nd.auth {
			if err := n.startNode(nd, "--TestingV3AuthVotingStartOffset", strconv.Itoa(off)); err != nil {
				return err
			}
		}
	}
	// Relays upload their descriptors as soon as they start; an authority
	// that is not listening yet would miss them until much later.
	for _, nd := range n.nodes {
		if nd.auth {
			if err := waitListening(ctx, nd); err != nil {
				return err
			}
		}
	}
	for _, nd := range n.nodes {
		if !nd.auth {
			if err := n.startNode(nd); err != nil {
				return err
			}
		}
	}
	n.logf("voting start offset %d s of %d", off, voteInterval)
	return nil
}

func (n *Network) startNode(nd *node, extra ...string) error {
	out, err := os.Create(filepath.Join(nd.dir, "stdout.log"))
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	defer out.Close() // the child has its own copy
	args := append([]string{
		"-f", filepath.Join(nd.dir, "torrc"),
		// A system torrc-defaults (User, RunAsDaemon, ...) must not leak in.
		"--defaults-torrc", n.emptyFile(),
		"--__OwningControllerProcess", strconv.Itoa(os.Getpid()),
		// Console logging stops once the torrc's Log applies; until then
		// warnings (bad config, busy port) land in stdout.log.
		"--hush",
	}, extra...)
	// Not CommandContext: the processes outlive Start's context and end
	// only in Stop.
	cmd := exec.Command(n.torBin, args...)
	cmd.Dir = nd.dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tornet: starting tor %s: %w", nd.name, err)
	}
	nd.cmd = cmd
	go func() {
		nd.waitErr = cmd.Wait()
		close(nd.done)
	}()
	return nil
}

func exited(nd *node) error {
	select {
	case <-nd.done:
		return fmt.Errorf("tornet: tor %s exited early: %w", nd.name, nd.waitErr)
	default:
		return nil
	}
}

func waitListening(ctx context.Context, nd *node) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(nd.dirPort))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if err := exited(nd); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tornet: authority %s never listened on %s: %w", nd.name, addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitConsensus polls every authority, not just one: a client enabled after
// only one is ready may fetch an older, smaller consensus from another, and
// clients that get 404s back off exponentially (bootstrap then takes 30-60 s
// instead of ~2 s).
func (n *Network) waitConsensus(ctx context.Context) error {
	hc := &http.Client{
		Timeout: 2 * time.Second,
		// Loopback only, whatever HTTP_PROXY says.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	defer hc.CloseIdleConnections()
	want := len(n.nodes)
	last := ""
	for {
		counts := make([]string, 0, numAuthorities)
		ready := 0
		for _, nd := range n.nodes {
			if err := exited(nd); err != nil {
				return err
			}
			if !nd.auth {
				continue
			}
			c := consensusRelays(ctx, hc, nd.dirPort)
			if c >= want {
				ready++
			}
			counts = append(counts, strconv.Itoa(c))
		}
		if s := strings.Join(counts, ","); s != last {
			n.logf("relays in each authority's consensus: %s (want %d)", s, want)
			last = s
		}
		if ready == numAuthorities {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tornet: no full consensus on every authority (relays listed: %s of %d): %w", last, want, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// consensusRelays returns how many relays the authority's current
// microdescriptor consensus lists, or -1 if it serves none.
func consensusRelays(ctx context.Context, hc *http.Client, dirPort int) int {
	url := fmt.Sprintf("http://127.0.0.1:%d/tor/status-vote/current/consensus-microdesc", dirPort)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return -1
	}
	// Go asks for gzip, tor answers deflate, and net/http does not decode
	// deflate: ask for the plain text.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := hc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	relays := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "r ") {
			relays++
		}
	}
	if sc.Err() != nil {
		return -1
	}
	return relays
}

// logTails returns the last lines of every node's logs, for errors.
func (n *Network) logTails() string {
	var b strings.Builder
	for _, nd := range n.nodes {
		for _, f := range []string{"notice.log", "stdout.log"} {
			if t := tail(filepath.Join(nd.dir, f), 12); t != "" {
				fmt.Fprintf(&b, "--- %s/%s\n%s\n", nd.name, f, t)
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func tail(file string, lines int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.TrimSpace(strings.Join(ls, "\n"))
}

// ClientTorrc returns the torrc lines every client tor of this network
// needs: without the DirAuthority lines a client would look for the public
// network, and with TestingTorNetwork but without the others it would wait
// for paths and delays sized for the public network.
func (n *Network) ClientTorrc() string {
	// Empty GeoIP settings save 1-2 s of parsing per client start (an empty
	// value in a torrc does disable GeoIP; it does not mean "default").
	return `TestingTorNetwork 1
PathsNeededToBuildCircuits 0.67
SafeLogging 0
LogTimeGranularity 1
ShutdownWaitLength 0
GeoIPFile ""
GeoIPv6File ""
` + n.dirAuths
}

// ClientArgs returns extra command-line arguments for client tors. It is
// empty: everything a client needs fits in ClientTorrc.
func (n *Network) ClientArgs() []string { return []string{} }

// Timings reports the durations measured by Start.
func (n *Network) Timings() Timings { return n.timings }

// Stop terminates every process (SIGTERM, then SIGKILL after 5 s) and
// removes a temp Dir. It is idempotent.
func (n *Network) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Network) stop() error {
	var errs []error
	var running []*node
	for _, nd := range n.nodes {
		if nd.cmd == nil {
			continue
		}
		running = append(running, nd)
		if err := nd.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			// No SIGTERM on this platform, or the process is gone.
			_ = nd.cmd.Process.Kill()
		}
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	expired := false
	for _, nd := range running {
		if !expired {
			select {
			case <-nd.done:
				continue
			case <-grace.C:
				expired = true
			}
		}
		select {
		case <-nd.done:
		default:
			if err := nd.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("tornet: killing tor %s: %w", nd.name, err))
			}
			<-nd.done
		}
	}
	if n.tempDir {
		if err := os.RemoveAll(n.Dir); err != nil {
			errs = append(errs, fmt.Errorf("tornet: %w", err))
		}
	}
	return errors.Join(errs...)
}
