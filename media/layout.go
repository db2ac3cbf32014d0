package media

import (
	"path/filepath"

	"github.com/lucidnet/lucid/sessions"
)

// ChunkFile is where a FileStore keeps a chunk, relative to its directory:
// what an index records as the chunk's local path.
func ChunkFile(id sessions.ID, index uint64) string {
	return filepath.Join(id.String(), chunkName(index))
}
