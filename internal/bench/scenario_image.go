package bench

import (
	"context"
	"fmt"
	"sync/atomic"
)

// image is a generated image: its layers, config and manifest.
type image struct {
	repo, tag string
	layers    []Blob
	layerDesc []Descriptor
	config    []byte
	configDg  string
	manifest  []byte
}

// logicalBytes is the size of the image as a client sees it: every layer
// and the config, whether or not the registry already had them.
func (im image) logicalBytes() int64 {
	n := int64(len(im.config) + len(im.manifest))
	for _, l := range im.layers {
		n += l.Size
	}
	return n
}

// buildImages generates the push-images set: image k has a base layer
// shared by all (twice LayerSize) and ImageLayers-1 layers of its own, of
// LayerSize/2 to LayerSize*5/4 bytes. Hashing happens here, untimed.
func buildImages(e *Env) []image {
	c := e.Config
	base := Blob{Seed: Seed("image-base-"+c.RunID, 0), Size: 2 * c.LayerSize}
	out := make([]image, c.Images)
	for k := range out {
		im := image{repo: c.repo(fmt.Sprintf("app-%d", k)), tag: "v1-" + c.RunID, layers: []Blob{base}}
		for i := 1; i < c.ImageLayers; i++ {
			size := c.LayerSize * int64(2+i%4) / 4
			im.layers = append(im.layers, Blob{Seed: Seed("image-layer-"+c.RunID, k*1000+i), Size: size})
		}
		for _, l := range im.layers {
			im.layerDesc = append(im.layerDesc, Descriptor{MediaType: MediaTypeLayer, Digest: e.Digests.Digest(l), Size: l.Size})
		}
		im.config = ImageConfig(im.layerDesc)
		im.configDg = DigestOfBytes(im.config)
		im.manifest = ImageManifest(Descriptor{MediaType: MediaTypeConfig, Digest: im.configDg, Size: int64(len(im.config))}, im.layerDesc, "")
		out[k] = im
	}
	return out
}

// pushImage pushes one image the way docker does: for each layer and then
// the config, HEAD the blob and upload it only if missing; then PUT the
// manifest by tag. It returns the bytes it uploaded.
func pushImage(ctx context.Context, c *Client, im image) (uploaded int64, err error) {
	for i, l := range im.layers {
		dg := im.layerDesc[i].Digest
		ok, err := c.BlobExists(ctx, im.repo, dg)
		if err != nil {
			return uploaded, err
		}
		if ok {
			continue
		}
		if err := c.PushMonolithic(ctx, im.repo, l.Reader(), l.Size, dg); err != nil {
			return uploaded, fmt.Errorf("layer %d: %w", i, err)
		}
		uploaded += l.Size
	}
	ok, err := c.BlobExists(ctx, im.repo, im.configDg)
	if err != nil {
		return uploaded, err
	}
	if !ok {
		if err := c.PushBytes(ctx, im.repo, im.config); err != nil {
			return uploaded, fmt.Errorf("config: %w", err)
		}
		uploaded += int64(len(im.config))
	}
	if _, err := c.PutManifest(ctx, im.repo, im.tag, MediaTypeManifest, im.manifest); err != nil {
		return uploaded, err
	}
	return uploaded, nil
}

func runPushImages(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	images := buildImages(e)
	conc := e.Config.concurrency(sc.Name, sc.Concurrency)
	var uploaded atomic.Int64
	params := map[string]int64{"images": int64(len(images)), "layers_per_image": int64(e.Config.ImageLayers)}
	r := e.measure(phase{scenario: sc.Name, concurrency: conc, unit: MiBPerSec, params: params}, func() Tally {
		return RunCount(ctx, len(images), conc, func(ctx context.Context, _, i int) (int64, error) {
			n, err := pushImage(ctx, e.Client, images[i])
			uploaded.Add(n)
			return images[i].logicalBytes(), err
		})
	})
	// Bytes that crossed the wire: the shared base goes once per repository.
	params["uploaded_bytes"] = uploaded.Load()
	return []Result{r}, nil
}

func runSmallBlobs(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	c := e.Config
	conc := c.concurrency(sc.Name, sc.Concurrency)
	repo := c.repo("small")
	blobs := make([]Blob, c.SmallCount)
	digests := make([]string, c.SmallCount)
	for i := range blobs {
		blobs[i] = Blob{Seed: Seed("small-"+c.RunID, i), Size: c.SmallSize}
		digests[i] = e.Digests.Digest(blobs[i])
	}
	params := map[string]int64{"blobs": int64(len(blobs)), "blob_bytes": c.SmallSize}
	push := e.measure(phase{scenario: sc.Name, name: "push", concurrency: conc, unit: OpsPerSec, params: params}, func() Tally {
		return RunCount(ctx, len(blobs), conc, func(ctx context.Context, _, i int) (int64, error) {
			b := blobs[i]
			return b.Size, e.Client.PushMonolithic(ctx, repo, b.Reader(), b.Size, digests[i])
		})
	})
	pull := e.measure(phase{scenario: sc.Name, name: "pull", concurrency: conc, unit: OpsPerSec, params: params}, func() Tally {
		return RunCount(ctx, len(blobs), conc, pullOp(e, repo, digests, conc))
	})
	return []Result{push, pull}, nil
}
