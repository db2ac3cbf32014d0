package testnet

import "syscall"

// childProcAttr puts each node in its own process group, so a Ctrl-C in the
// terminal reaches only `lucid testnet up`, which then stops the nodes in
// order; and asks the kernel to kill a node if its parent dies first, so a
// killed testnet leaves no process behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
