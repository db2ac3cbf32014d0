package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/testnet"
)

// benchNetwork is a small in-process network for a measured node process
// to join.
func benchNetwork(b *testing.B) *testnet.Network {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = nw.Close() })
	if err := nw.WaitPublished(ctx); err != nil {
		b.Fatal(err)
	}
	return nw
}

// initBenchHome makes a home whose node joins nw on loopback.
func initBenchHome(b *testing.B, nw *testnet.Network) node.Home {
	b.Helper()
	home := node.Home{Dir: filepath.Join(b.TempDir(), "home")}
	if _, err := node.Init(home, testnet.NodeConfig(nil, nw.Bootstrap())); err != nil {
		b.Fatal(err)
	}
	return home
}

func startProcess(b *testing.B, args ...string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(lucidBin, args...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return cmd
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// BenchmarkIdleRSS measures the resident memory of a node that has joined a
// network and sat idle for 60 s (the Pi budget is 60 MiB), against a bare
// libp2p host with the same transports and profile started beside it.
func BenchmarkIdleRSS(b *testing.B) {
	nw := benchNetwork(b)
	for range b.N {
		home := initBenchHome(b, nw)
		n := startProcess(b, "node", "run", "--home", home.Dir, "--log-level", "warn")
		bare := startProcess(b, "debug", "bare-host")
		time.Sleep(60 * time.Second)
		nodeRSS, err := rssBytes(n.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		bareRSS, err := rssBytes(bare.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(nodeRSS)/(1<<20), "node-rss-MiB")
		b.ReportMetric(float64(bareRSS)/(1<<20), "bare-host-rss-MiB")
		b.ReportMetric(float64(nodeRSS)/float64(bareRSS), "x-vs-bare-host")
	}
}

// BenchmarkStartToFirstQuery measures, for a fresh node process joining a
// running network, the time from exec to its API answering and to its first
// successful DHT query (finding a capacity record), and reports the second
// as a ratio of the first. Each run joins a fresh 3-node network.
func BenchmarkStartToFirstQuery(b *testing.B) {
	const runs = 5
	for range b.N {
		var toAPI, toQuery []time.Duration
		for range runs {
			// A network per run: the nodes of earlier runs would otherwise
			// linger in routing tables as dead peers and time the lookups.
			nw := benchNetwork(b)
			home := initBenchHome(b, nw)
			start := time.Now()
			cmd := exec.Command(lucidBin, "node", "run", "--home", home.Dir, "--log-level", "warn")
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			api, query, err := waitFirstQuery(home, 30*time.Second)
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if err != nil {
				b.Fatal(err)
			}
			toAPI, toQuery = append(toAPI, api.Sub(start)), append(toQuery, query.Sub(start))
		}
		slices.Sort(toAPI)
		slices.Sort(toQuery)
		b.ReportMetric(float64(toAPI[runs/2].Microseconds())/1000, "start-to-api-ms")
		b.ReportMetric(float64(toQuery[runs/2].Microseconds())/1000, "start-to-first-query-ms")
		b.ReportMetric(float64(toQuery[runs/2])/float64(toAPI[runs/2]), "first-query-x-vs-api")
	}
}

// waitFirstQuery polls a starting node until its API answers and then until
// a lookup through it finds a capacity record.
func waitFirstQuery(home node.Home, limit time.Duration) (apiAt, queryAt time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var client *node.Client
	for apiAt.IsZero() || queryAt.IsZero() {
		if ctx.Err() != nil {
			return apiAt, queryAt, fmt.Errorf("node in %s: %w", home.Dir, ctx.Err())
		}
		if client == nil {
			if c, err := node.DialHome(home); err == nil {
				client = c
			}
		}
		if client != nil && apiAt.IsZero() {
			if _, err := client.NodeInfo(ctx); err == nil {
				apiAt = time.Now()
			}
		}
		if !apiAt.IsZero() {
			if res, err := client.FindNodes(ctx, node.FindNodesParams{Limit: 1}); err == nil && len(res.Nodes) > 0 {
				queryAt = time.Now()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return apiAt, queryAt, nil
}
