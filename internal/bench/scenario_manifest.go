package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
)

// tinyImage is the config and single small layer that fixture manifests
// share; each manifest is made distinct by an annotation.
type tinyImage struct {
	layer      Blob
	layerDesc  Descriptor
	config     []byte
	configDesc Descriptor
}

func newTinyImage(e *Env) tinyImage {
	t := tinyImage{layer: Blob{Seed: Seed("tiny-layer", 0), Size: 1024}}
	t.layerDesc = Descriptor{MediaType: MediaTypeLayer, Digest: e.Digests.Digest(t.layer), Size: t.layer.Size}
	t.config = ImageConfig([]Descriptor{t.layerDesc})
	t.configDesc = Descriptor{MediaType: MediaTypeConfig, Digest: DigestOfBytes(t.config), Size: int64(len(t.config))}
	return t
}

func (t tinyImage) manifest(marker string) []byte {
	return ImageManifest(t.configDesc, []Descriptor{t.layerDesc}, marker)
}

// pushBlobs uploads the layer and config to repo.
func (t tinyImage) pushBlobs(ctx context.Context, c *Client, repo string) error {
	if err := c.PushMonolithic(ctx, repo, t.layer.Reader(), t.layer.Size, t.layerDesc.Digest); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	if err := c.PushBytes(ctx, repo, t.config); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// ensureBlobs pushes the layer and config to repo unless both are there.
func (t tinyImage) ensureBlobs(ctx context.Context, c *Client, repo string) error {
	for _, dg := range []string{t.layerDesc.Digest, t.configDesc.Digest} {
		ok, err := c.BlobExists(ctx, repo, dg)
		if err != nil {
			return err
		}
		if !ok {
			return t.pushBlobs(ctx, c, repo)
		}
	}
	return nil
}

// tagName is the i-th tag of fixture and tag-push repositories; names sort
// in index order.
func tagName(i int) string { return fmt.Sprintf("t%06d", i) }

// setupTally turns a set-up tally with errors into one error.
func setupTally(what string, t Tally) error {
	if t.Errors == 0 {
		return nil
	}
	s := t.Failures.Samples()
	return fmt.Errorf("set-up %s: %d operations failed, e.g. %s", what, t.Errors, s[0].Example)
}

// ensureTags makes repo hold tags tagName(0..n-1), each on its own small
// manifest, pushing only what is missing, so a fixture is built once per
// server. It returns the tag names.
func ensureTags(ctx context.Context, e *Env, repo string, n int) ([]string, error) {
	t := newTinyImage(e)
	if err := t.ensureBlobs(ctx, e.Client, repo); err != nil {
		return nil, fmt.Errorf("set-up %s: %w", repo, err)
	}
	tags := make([]string, n)
	for i := range tags {
		tags[i] = tagName(i)
	}
	e.Log.Info("set-up: ensuring tags", "repo", repo, "tags", n)
	tally := RunCount(ctx, n, e.Config.SetupConcurrency, func(ctx context.Context, _, i int) (int64, error) {
		ok, err := e.Client.ManifestExists(ctx, repo, tags[i])
		if err != nil || ok {
			return 0, err
		}
		_, err = e.Client.PutManifest(ctx, repo, tags[i], MediaTypeManifest, t.manifest(repo+":"+tags[i]))
		return 0, err
	})
	return tags, setupTally("tags of "+repo, tally)
}

func runManifestFew(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	return runManifests(ctx, e, sc, e.Config.FewTags)
}

func runManifestMany(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	return runManifests(ctx, e, sc, e.Config.ManyTags)
}

// tagRepo is the fixture repository holding n tags.
func tagRepo(c Config, n int) string { return c.repo(fmt.Sprintf("tags-%d", n)) }

// runManifests resolves random tags of a repository of n tags, first by
// HEAD then by GET, each for Config.Duration.
func runManifests(ctx context.Context, e *Env, sc Scenario, n int) ([]Result, error) {
	repo := tagRepo(e.Config, n)
	tags, err := ensureTags(ctx, e, repo, n)
	if err != nil {
		return nil, err
	}
	conc := e.Config.concurrency(sc.Name, sc.Concurrency)
	params := map[string]int64{"tags": int64(n)}
	var out []Result
	for _, ph := range []struct {
		name string
		op   func(ctx context.Context, tag string) (int64, error)
	}{
		{"head", func(ctx context.Context, tag string) (int64, error) {
			_, err := e.Client.HeadManifest(ctx, repo, tag)
			return 0, err
		}},
		{"get", func(ctx context.Context, tag string) (int64, error) {
			b, err := e.Client.GetManifest(ctx, repo, tag)
			return int64(len(b)), err
		}},
	} {
		rngs := make([]*rand.Rand, conc)
		r := e.measure(phase{scenario: sc.Name, name: ph.name, concurrency: conc, unit: OpsPerSec, timed: true, params: params}, func() Tally {
			return RunFor(ctx, e.Config.Duration, conc, func(ctx context.Context, w, _ int) (int64, error) {
				if rngs[w] == nil {
					rngs[w] = rand.New(rand.NewPCG(uint64(w), 0x6265727468))
				}
				return ph.op(ctx, tags[rngs[w].IntN(len(tags))])
			})
		})
		out = append(out, r)
	}
	return out, nil
}

func runTagPush(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	c := e.Config
	repo := c.repo("tag-push-" + c.RunID)
	t := newTinyImage(e)
	if err := t.pushBlobs(ctx, e.Client, repo); err != nil {
		return nil, fmt.Errorf("set-up %s: %w", repo, err)
	}
	manifests := make([][]byte, c.TagPushes)
	for i := range manifests {
		manifests[i] = t.manifest(repo + ":" + tagName(i))
	}
	conc := c.concurrency(sc.Name, sc.Concurrency)
	r := e.measure(phase{scenario: sc.Name, concurrency: conc, unit: OpsPerSec,
		params: map[string]int64{"tags": int64(c.TagPushes)}}, func() Tally {
		return RunCount(ctx, len(manifests), conc, func(ctx context.Context, _, i int) (int64, error) {
			_, err := e.Client.PutManifest(ctx, repo, tagName(i), MediaTypeManifest, manifests[i])
			return int64(len(manifests[i])), err
		})
	})
	return []Result{r}, nil
}

// checkWalk verifies the shape of a paginated walk: no page larger than
// asked, and as many pages as the names need.
func checkWalk(w Walk, pageSize int) error {
	if w.MaxPage > pageSize {
		return fmt.Errorf("a page held %d names, more than n=%d", w.MaxPage, pageSize)
	}
	if need := (len(w.Names) + pageSize - 1) / pageSize; w.Pages < need {
		return fmt.Errorf("%d names in %d pages, fewer than the %d needed at n=%d", len(w.Names), w.Pages, need, pageSize)
	}
	return nil
}

func runTagList(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	c := e.Config
	repo := tagRepo(c, c.ManyTags)
	if _, err := ensureTags(ctx, e, repo, c.ManyTags); err != nil {
		return nil, err
	}
	params := map[string]int64{"tags": int64(c.ManyTags), "page_size": int64(c.PageSize)}
	r := e.measure(phase{scenario: sc.Name, concurrency: 1, unit: SecsPerWalk, params: params}, func() Tally {
		return RunCount(ctx, c.Walks, 1, func(ctx context.Context, _, _ int) (int64, error) {
			w, err := e.Client.ListTags(ctx, repo, c.PageSize)
			if err != nil {
				return 0, err
			}
			params["pages"] = int64(w.Pages)
			if len(w.Names) != c.ManyTags {
				return 0, fmt.Errorf("tag list walk returned %d tags, want %d", len(w.Names), c.ManyTags)
			}
			return 0, checkWalk(w, c.PageSize)
		})
	})
	return []Result{r}, nil
}

// ensureRepos makes n repositories under one fixture folder, each with one
// tagged manifest, pushing only the missing ones. It returns their names.
func ensureRepos(ctx context.Context, e *Env, n int) ([]string, error) {
	t := newTinyImage(e)
	repos := make([]string, n)
	for i := range repos {
		repos[i] = e.Config.repo(fmt.Sprintf("catalog-%d", n), fmt.Sprintf("r%06d", i))
	}
	e.Log.Info("set-up: ensuring repositories", "repos", n)
	tally := RunCount(ctx, n, e.Config.SetupConcurrency, func(ctx context.Context, _, i int) (int64, error) {
		ok, err := e.Client.ManifestExists(ctx, repos[i], "latest")
		if err != nil || ok {
			return 0, err
		}
		if err := t.pushBlobs(ctx, e.Client, repos[i]); err != nil {
			return 0, err
		}
		_, err = e.Client.PutManifest(ctx, repos[i], "latest", MediaTypeManifest, t.manifest(""))
		return 0, err
	})
	return repos, setupTally("catalog repositories", tally)
}

func runCatalog(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	c := e.Config
	repos, err := ensureRepos(ctx, e, c.Repos)
	if err != nil {
		return nil, err
	}
	params := map[string]int64{"repos": int64(c.Repos), "page_size": int64(c.PageSize)}
	r := e.measure(phase{scenario: sc.Name, concurrency: 1, unit: SecsPerWalk, params: params}, func() Tally {
		return RunCount(ctx, c.Walks, 1, func(ctx context.Context, _, _ int) (int64, error) {
			w, err := e.Client.Catalog(ctx, c.PageSize)
			if err != nil {
				return 0, err
			}
			params["listed"], params["pages"] = int64(len(w.Names)), int64(w.Pages)
			if missing := missingNames(repos, w.Names); len(missing) > 0 {
				return 0, fmt.Errorf("catalog walk of %d names misses %d fixture repositories, e.g. %s",
					len(w.Names), len(missing), strings.Join(missing[:min(3, len(missing))], ", "))
			}
			return 0, checkWalk(w, c.PageSize)
		})
	})
	return []Result{r}, nil
}

// missingNames returns the names of want absent from got.
func missingNames(want, got []string) []string {
	seen := make(map[string]bool, len(got))
	for _, g := range got {
		seen[g] = true
	}
	var missing []string
	for _, w := range want {
		if !seen[w] {
			missing = append(missing, w)
		}
	}
	return missing
}
