package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"unicode/utf8"
)

// Limits of Task.Metadata, checked by ValidateDefinition: metadata travels
// with every read of the row, so it is kept small.
const (
	// MaxMetadataEntries is the most entries a task's metadata holds.
	MaxMetadataEntries = 64
	// MaxMetadataBytes bounds the sum of the lengths of every key and
	// value.
	MaxMetadataBytes = 8 << 10
)

// ValidateMetadata checks a task's metadata: at most MaxMetadataEntries
// entries of non-empty keys, MaxMetadataBytes in all, valid UTF-8. The
// error wraps ErrInvalid.
func ValidateMetadata(md map[string]string) error {
	if len(md) > MaxMetadataEntries {
		return fmt.Errorf("%w: metadata has %d entries, the limit is %d", ErrInvalid, len(md), MaxMetadataEntries)
	}
	size := 0
	for k, v := range md {
		switch {
		case k == "":
			return fmt.Errorf("%w: metadata has an empty key", ErrInvalid)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fmt.Errorf("%w: metadata entry %q is not valid UTF-8", ErrInvalid, k)
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return fmt.Errorf("%w: metadata is %d bytes, the limit is %d", ErrInvalid, size, MaxMetadataBytes)
	}
	return nil
}

// EncodeMetadata is the stored form of metadata every built-in store uses:
// a JSON object, or nil for no entries (NULL, or an absent field). Stores
// without SQL keep the map as it is.
func EncodeMetadata(md map[string]string) []byte {
	if len(md) == 0 {
		return nil
	}
	b, err := json.Marshal(md)
	if err != nil { // a map of strings always encodes
		panic(fmt.Sprintf("store: encode metadata: %v", err))
	}
	return b
}

// DecodeMetadata reads what EncodeMetadata wrote; nil, empty, "null" and
// "{}" give a nil map.
func DecodeMetadata(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var md map[string]string
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	if len(md) == 0 {
		return nil, nil
	}
	return md, nil
}

// cloneMetadata copies md; no entries give nil, as a store returns them.
func cloneMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	return maps.Clone(md)
}
