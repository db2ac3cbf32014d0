package sessions

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
)

// sinkServer reads everything and, at EOF, answers with the byte count.
func sinkServer(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "%d", n)
			}()
		}
	}()
	return l.Addr().String()
}

// push sends size bytes to addr and waits for the sink's count.
func push(b *testing.B, addr string, chunk []byte, size int) time.Duration {
	b.Helper()
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadAll(c); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkTunnelThroughput pushes 64 MiB to a sink service directly over
// loopback TCP and through a session tunnel (TCP → libp2p yamux/Noise →
// TCP), and reports the tunnel's throughput as a ratio of the direct one.
func BenchmarkTunnelThroughput(b *testing.B) {
	const size = 64 << 20
	sink := sinkServer(b)
	hostP, _ := startHost(b, hostOpts{target: sink, limits: Limits{}})
	_, clientM := startClient(b, hostP)
	info := connect(b, clientM, hostP.id, ServiceRDP)
	chunk := make([]byte, 64<<10)
	_, _ = rand.Read(chunk)

	b.SetBytes(size)
	b.ResetTimer()
	var direct, tunnel time.Duration
	for range b.N {
		direct += push(b, sink, chunk, size)
		tunnel += push(b, info.LocalAddr, chunk, size)
	}
	mbps := func(d time.Duration) float64 { return float64(size*b.N) / d.Seconds() / (1 << 20) }
	b.ReportMetric(mbps(direct), "direct-MiB/s")
	b.ReportMetric(mbps(tunnel), "tunnel-MiB/s")
	b.ReportMetric(mbps(tunnel)/mbps(direct), "x-vs-direct-tcp")
}

// BenchmarkTunnelRoundTrip measures one-byte request/response round trips
// to an echo service, directly and through a tunnel, on one connection.
func BenchmarkTunnelRoundTrip(b *testing.B) {
	const trips = 2000
	echo := echoServer(b)
	hostP, _ := startHost(b, hostOpts{target: echo})
	_, clientM := startClient(b, hostP)
	info := connect(b, clientM, hostP.id, ServiceRDP)

	measure := func(addr string) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		one := []byte{1}
		rtts := make([]time.Duration, 0, trips)
		for range trips {
			start := time.Now()
			if _, err := c.Write(one); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, one); err != nil {
				b.Fatal(err)
			}
			rtts = append(rtts, time.Since(start))
		}
		slices.Sort(rtts)
		return rtts[len(rtts)/2]
	}
	b.ResetTimer()
	for range b.N {
		direct, tunnel := measure(echo), measure(info.LocalAddr)
		b.ReportMetric(float64(direct.Nanoseconds())/1000, "direct-p50-µs")
		b.ReportMetric(float64(tunnel.Nanoseconds())/1000, "tunnel-p50-µs")
		b.ReportMetric(float64(tunnel)/float64(direct), "x-vs-direct-tcp")
	}
}

// BenchmarkConcurrentSessions opens sessions from many client peers to one
// host (pi profile limits, slots not limiting) until the host refuses or
// 800 are open, and reports how many it carried and the heap each session
// adds (host and client side together, both in this process), measured
// against the heap of the idle host and clients.
func BenchmarkConcurrentSessions(b *testing.B) {
	// One connection per client peer, and per-peer stream limits, as a
	// crowd of desktop users would present.
	const clients, perClient = 100, 8
	for range b.N {
		hostP, _ := startHost(b, hostOpts{slots: 1 << 20})
		var ms []*Manager
		for range clients {
			_, m := startClient(b, hostP)
			ms = append(ms, m)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		open, peers, refused := 0, 0, ""
	loop:
		for _, m := range ms {
			peers++
			for range perClient {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := m.Connect(ctx, hostP.id, ConnectOptions{Service: ServiceRDP})
				cancel()
				if err != nil {
					refused = err.Error()
					break loop
				}
				open++
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(open), "sessions")
		b.ReportMetric(float64(peers), "client-peers")
		if open > 0 {
			b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(open)/1024, "heap-KiB/session")
		}
		if refused != "" {
			b.Logf("refused after %d sessions: %s", open, refused)
		}
	}
}
