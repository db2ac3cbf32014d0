package p2p

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/prometheus/client_golang/prometheus"
)

// Profile sizes the host for the machine it runs on.
type Profile string

const (
	// ProfilePi fits a Raspberry Pi 5 on a home link: the libp2p stack may use
	// 256 MiB and 1024 file descriptors, and the node keeps few connections
	// open so that consumer routers are not overwhelmed (kubo#9998).
	ProfilePi Profile = "pi"
	// ProfileServer scales limits to the machine, as go-libp2p's AutoScale does.
	ProfileServer Profile = "server"
)

// Profiles lists the valid profile names.
var Profiles = []Profile{ProfilePi, ProfileServer}

type hostLimits struct {
	scaled    rcmgr.ConcreteLimitConfig
	connLow   int
	connHigh  int
	connGrace time.Duration
}

// Valid reports an error for an unknown profile name.
func (p Profile) Valid() error {
	switch p {
	case ProfilePi, ProfileServer:
		return nil
	}
	return fmt.Errorf("unknown profile %q (want pi or server)", string(p))
}

func (p Profile) limits(perPeer map[protocol.ID]int) (hostLimits, error) {
	if err := p.Valid(); err != nil {
		return hostLimits{}, err
	}
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	for id, n := range perPeer {
		scaling.AddProtocolPeerLimit(id,
			rcmgr.BaseLimit{StreamsInbound: n, StreamsOutbound: n, Streams: 2 * n, Memory: 64 << 20},
			rcmgr.BaseLimitIncrease{})
	}
	switch p {
	case ProfilePi:
		return hostLimits{
			scaled:    scaling.Scale(256<<20, 1024),
			connLow:   32,
			connHigh:  64,
			connGrace: 30 * time.Second,
		}, nil
	default:
		return hostLimits{
			scaled:    scaling.AutoScale(),
			connLow:   96,
			connHigh:  192,
			connGrace: 20 * time.Second,
		}, nil
	}
}

func newResourceManager(l hostLimits, reg prometheus.Registerer) (network.ResourceManager, error) {
	var opts []rcmgr.Option
	if reg != nil {
		rcmgr.MustRegisterWith(reg)
		reporter, err := rcmgr.NewStatsTraceReporter()
		if err != nil {
			return nil, err
		}
		opts = append(opts, rcmgr.WithTraceReporter(reporter))
	} else {
		opts = append(opts, rcmgr.WithMetricsDisabled())
	}
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(l.scaled), opts...)
}
