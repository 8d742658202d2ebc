package scanner

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/klauspost/compress/zstd"
)

// Stored inventories and results are zstd-compressed JSON: an inventory of
// a few hundred packages is tens of kilobytes as JSON and a few as zstd.

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		// Neither fails with these options; a nil codec would panic below
		// and is a programming error.
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
	})
	return enc, dec
}

// inventoryVersion is the version of the stored inventory encoding.
const inventoryVersion = 1

// storedInventory is what a built-in scan keeps to rebuild its result
// without reading layers: the packages of every platform, the findings that
// do not depend on vulnerability data, and the SBOMs' creation time.
type storedInventory struct {
	Version  int                 `json:"v"`
	Results  []*inventory.Result `json:"results"`
	Findings []scan.Finding      `json:"findings"`
	// Created is the SBOMs' creation time: the manifest's push time, so a
	// rescan of the same content makes the same SBOM bytes.
	Created time.Time `json:"created"`
}

func encode(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode scan data: %w", err)
	}
	e, _ := codecs()
	return e.EncodeAll(raw, make([]byte, 0, len(raw)/4)), nil
}

func decode(b []byte, v any) error {
	_, d := codecs()
	raw, err := d.DecodeAll(b, nil)
	if err != nil {
		return fmt.Errorf("decompress scan data: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode scan data: %w", err)
	}
	return nil
}

func decodeInventory(b []byte) (*storedInventory, error) {
	var inv storedInventory
	if err := decode(b, &inv); err != nil {
		return nil, err
	}
	if inv.Version != inventoryVersion {
		return nil, fmt.Errorf("stored inventory version %d is not %d", inv.Version, inventoryVersion)
	}
	return &inv, nil
}

func decodeResult(b []byte) (*Result, error) {
	var r Result
	if err := decode(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
