package bench

import "math"

// ScaleOutTargets are the goals of Berth scale-out (PostgreSQL and S3) as
// ratios scale-out/embedded of the same scenario: resolving a tag through
// PostgreSQL must stay within 2× of the embedded figure, so at least half
// its rate.
var ScaleOutTargets = []Target{
	{"manifest-few/head", "manifest HEAD by tag, 16 tags, c=64", OpsPerSec, 0.5},
	{"manifest-few/get", "manifest GET by tag, 16 tags, c=64", OpsPerSec, 0.5},
	{"manifest-many/head", "manifest HEAD by tag, 5,000 tags, c=64", OpsPerSec, 0.5},
	{"manifest-many/get", "manifest GET by tag, 5,000 tags, c=64", OpsPerSec, 0.5},
}

// ScaleOutVerdict judges scale-out against embedded for t.
func (c *Comparison) ScaleOutVerdict(t Target) (ratio float64, v Verdict) {
	return c.judge(t, LabelScaleOut, LabelBerth)
}

// S3Pair sets a Berth scale-out result beside the raw S3 measurement of the
// same payload on the same server.
type S3Pair struct {
	Berth, Raw string
	What       string
}

// S3Pairs lists the blob transfers compared with the S3 server's own speed.
var S3Pairs = []S3Pair{
	{"push-mono", RawPutBig, "512 MiB blob in: monolithic push / multipart PUT"},
	{"push-chunked", RawPutBig, "512 MiB blob in: chunked push / multipart PUT"},
	{"pull", RawGetBig, "512 MiB blob out: pull / GET"},
	{"small-blobs/push", RawPutSmall, "64 KiB blobs in, c=32: push / PUT"},
	{"small-blobs/pull", RawGetSmall, "64 KiB blobs out, c=32: pull / GET"},
}

// S3Ratio returns the medians of Berth scale-out's p.Berth and of the raw
// S3 measurement p.Raw, and their ratio (higher is better: 1 means Berth
// moves the payload as fast as the S3 server alone). clean is false when
// either side had errors.
func (c *Comparison) S3Ratio(p S3Pair) (berth, raw, ratio float64, clean bool) {
	var bs, rs *Series
	if cmp := c.Find(p.Berth); cmp != nil {
		bs = cmp.Series[LabelScaleOut]
	}
	if cmp := c.Find(p.Raw); cmp != nil {
		rs = cmp.Series[LabelRawS3]
	}
	berth, raw = bs.Median(), rs.Median()
	if bs == nil || rs == nil {
		return berth, raw, math.NaN(), false
	}
	return berth, raw, Ratio(berth, raw), bs.Clean() && rs.Clean()
}
