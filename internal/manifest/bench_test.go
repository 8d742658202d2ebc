package manifest

import (
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func BenchmarkParse(b *testing.B) {
	img := mustJSON(b, image(digest.SHA256, 10, mtLayerGzip))
	children := make([]v1.Descriptor, 16)
	for i := range children {
		children[i] = platformDesc(append(img, byte(' '+i)), v1.MediaTypeImageManifest, fmt.Sprintf("arch%d", i))
	}
	idx := mustJSON(b, index(children...))
	benches := []struct {
		name string
		ct   string
		body []byte
	}{
		{"manifest-10-layers", MediaTypeImageManifest, img},
		{"index-16-entries", MediaTypeImageIndex, idx},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bb.ct, bb.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
