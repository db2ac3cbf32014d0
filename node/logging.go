package node

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/zap/zapcore"
)

// libraryLogFloor keeps libp2p, the DHT, GossipSub and Badger at warnings
// and above: their info and debug output is for their developers and would
// drown the node's own log on a Pi's SD card.
const libraryLogFloor = slog.LevelWarn

// NewLogger builds the process logger from the [log] config.
func NewLogger(cfg LogConfig, w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	o := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return slog.New(slog.NewTextHandler(w, o)), nil
}

// RouteLibraryLogs sends the logs of go-libp2p (slog, through gologshim) and
// of the go-log based libraries (kad-dht, pubsub, badger: zap) to l, at
// warning level and above, so a node writes one log in one format. It
// changes process-wide state: the daemon calls it once at start.
func RouteLibraryLogs(l *slog.Logger) {
	h := floorHandler{Handler: l.Handler(), floor: libraryLogFloor}
	gologshim.SetDefaultHandler(h)
	// SetupLogging sets the level of loggers created later; the primary
	// core it installs is then replaced by the bridge.
	cfg := golog.GetConfig()
	cfg.Level, cfg.SubsystemLevels = golog.LevelWarn, nil
	golog.SetupLogging(cfg)
	golog.SetPrimaryCore(zapToSlog{h: h})
}

// floorHandler drops records below a level.
type floorHandler struct {
	slog.Handler
	floor slog.Level
}

func (f floorHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.floor && f.Handler.Enabled(ctx, l)
}

func (f floorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return floorHandler{Handler: f.Handler.WithAttrs(as), floor: f.floor}
}

func (f floorHandler) WithGroup(name string) slog.Handler {
	return floorHandler{Handler: f.Handler.WithGroup(name), floor: f.floor}
}

// zapToSlog is a zap core that writes into a slog handler.
type zapToSlog struct {
	h      slog.Handler
	fields []zapcore.Field
}

func zapLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (z zapToSlog) Enabled(l zapcore.Level) bool {
	return z.h.Enabled(context.Background(), zapLevel(l))
}

func (z zapToSlog) With(fs []zapcore.Field) zapcore.Core {
	return zapToSlog{h: z.h, fields: append(append([]zapcore.Field(nil), z.fields...), fs...)}
}

func (z zapToSlog) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if z.Enabled(e.Level) {
		return ce.AddCore(e, z)
	}
	return ce
}

func (z zapToSlog) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range z.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	r := slog.NewRecord(e.Time, zapLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		r.AddAttrs(slog.Any(k, enc.Fields[k]))
	}
	return z.h.Handle(context.Background(), r)
}

func (zapToSlog) Sync() error { return nil }
