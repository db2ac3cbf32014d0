package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SSHD is a real OpenSSH server on a free loopback port, with a throwaway
// host key and one authorized client key, for tests of the session tunnel.
type SSHD struct {
	Addr string // 127.0.0.1:port
	User string
	// KeyPath is the client's private key, authorized on the server.
	KeyPath string
	dir     string
	cmd     *exec.Cmd
}

// SSHDPath is where Debian's openssh-server puts the daemon.
const SSHDPath = "/usr/sbin/sshd"

// ErrNoSSHD means OpenSSH's server or client is not installed.
var ErrNoSSHD = errors.New("openssh-server and openssh-client are needed (Debian: apt-get install openssh-server openssh-client)")

// StartSSHD runs sshd in dir until ctx ends or Stop is called.
func StartSSHD(ctx context.Context, dir string) (*SSHD, error) {
	if _, err := os.Stat(SSHDPath); err != nil {
		return nil, ErrNoSSHD
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		return nil, ErrNoSSHD
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &SSHD{User: u.Username, dir: dir, KeyPath: filepath.Join(dir, "client_ed25519")}
	hostKey := filepath.Join(dir, "host_ed25519")
	for _, k := range []string{hostKey, s.KeyPath} {
		if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(s.KeyPath + ".pub")
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return nil, err
	}
	// Privilege separation needs this directory when sshd runs as root.
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
	port, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := filepath.Join(dir, "sshd_config")
	config := strings.Join([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorized,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"StrictModes no",
		"UsePAM no",
		"Subsystem sftp internal-sftp",
		"LogLevel ERROR",
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", conf)
	s.cmd.Stderr = &tailWriter{path: filepath.Join(dir, "sshd.log")}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	context.AfterFunc(ctx, func() { s.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			return nil, fmt.Errorf("sshd did not listen on %s: %s", s.Addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SSHArgs are the ssh client options that reach this server through a
// local port (the tunnel) non-interactively.
func (s *SSHD) SSHArgs(port int) []string {
	return []string{
		"-p", strconv.Itoa(port), "-i", s.KeyPath,
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20",
		s.User + "@127.0.0.1",
	}
}

// Stop kills the server.
func (s *SSHD) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailWriter appends a process's output to a file.
type tailWriter struct{ path string }

func (w *tailWriter) Write(p []byte) (int, error) {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Write(p)
}
