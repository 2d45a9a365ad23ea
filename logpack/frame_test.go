package logpack_test

import (
	"encoding/binary"

	"github.com/hashike/hashike/logpack"
	"github.com/klauspost/compress/zstd"
)

// frame builds a blob around an arbitrary payload, bypassing Encode's checks.
func frame(count int, payload []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	defer enc.Close()
	b := []byte{logpack.Version}
	b = binary.AppendUvarint(b, uint64(count))
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return enc.EncodeAll(payload, b)
}
