package node

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/stretchr/testify/require"
)

func TestLibraryLogsReachTheNodeLogAtWarnAndAbove(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(LogConfig{Level: "debug", Format: "json"}, &buf)
	require.NoError(t, err)
	RouteLibraryLogs(l)

	zapLog := golog.Logger("lucid-test-zap")
	zapLog.Infow("quiet", "k", 1)
	zapLog.Warnw("from zap", "b", 2, "a", "x")
	slogLog := gologshim.Logger("lucid-test-slog")
	slogLog.Info("quiet")
	slogLog.Error("from slog", "n", 3)

	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		lines = append(lines, m)
	}
	require.Len(t, lines, 2, buf.String())
	require.Equal(t, "from zap", lines[0]["msg"])
	require.Equal(t, "WARN", lines[0]["level"])
	require.Equal(t, "lucid-test-zap", lines[0]["logger"])
	require.Equal(t, "x", lines[0]["a"])
	require.Equal(t, "from slog", lines[1]["msg"])
	require.Equal(t, "lucid-test-slog", lines[1]["logger"])
}
